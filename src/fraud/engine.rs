//! The streaming engine's pure parts (issue 9, FRAUD-2..5, CONTRACTS C4):
//! event-time watermarks, tumbling windows, per-key look-back windows that
//! fire once per (type, key) until they fall back. No I/O, no clock: times
//! are event times in milliseconds (the Kafka message timestamp), and the
//! processing time needed for idle partitions is passed in.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;

/// Milliseconds since the Unix epoch (event time or processing time).
pub type Millis = i64;

/// One input partition's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct PartitionClock {
    /// Largest event time seen on the partition; `None` for an assigned
    /// partition that has not delivered yet (it holds the watermark until it
    /// does or goes idle, so a slow starter's first events are not late).
    max_event: Option<Millis>,
    /// Processing time of its last message (for idleness).
    last_seen: Millis,
}

/// Event-time watermark over several partitions (FRAUD-3, C4): each
/// partition's watermark is its largest event time minus the tolerated
/// out-of-orderness; the job's is the minimum over the **active** partitions
/// (a partition without a message for `idle` of processing time stops holding
/// it back). It never goes backwards.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Watermarks {
    delay: Millis,
    idle: Millis,
    partitions: BTreeMap<(String, i32), PartitionClock>,
    current: Option<Millis>,
}

impl Watermarks {
    /// `delay`: tolerated out-of-orderness (10 s, FRAUD-3); `idle`: after
    /// how long without a message a partition stops holding the watermark.
    pub fn new(delay: Millis, idle: Millis) -> Watermarks {
        Watermarks {
            delay,
            idle,
            partitions: BTreeMap::new(),
            current: None,
        }
    }

    /// The watermark: every event at or before it has been seen (up to the
    /// tolerated lateness). `None` before the first event.
    pub fn current(&self) -> Option<Millis> {
        self.current
    }

    /// Is an event of `partition` at `t` late? Behind its own partition's
    /// watermark (largest event time seen there minus the delay) — which
    /// depends only on the partition's order, so a live run, a restart and
    /// a replay agree — or behind the job's (possible only when an idle
    /// partition wakes up).
    pub fn is_late_on(&self, topic: &str, partition: i32, t: Millis) -> bool {
        let own = self
            .partitions
            .iter()
            .find(|((t, p), _)| t == topic && *p == partition)
            .and_then(|(_, c)| c.max_event)
            .is_some_and(|m| t < m - self.delay);
        own || self.is_late(t)
    }

    /// Is an event at `t` behind the job's watermark?
    pub fn is_late(&self, t: Millis) -> bool {
        self.current.is_some_and(|w| t < w)
    }

    /// Records a message of `partition` with event time `t`, processed at
    /// `now`, and returns the watermark after it.
    pub fn observe(
        &mut self,
        topic: &str,
        partition: i32,
        t: Millis,
        now: Millis,
    ) -> Option<Millis> {
        // A handful of partitions: a scan, without allocating a key per event.
        let found = self
            .partitions
            .iter_mut()
            .find(|((tp, p), _)| tp == topic && *p == partition)
            .map(|(_, c)| c);
        let clock = match found {
            Some(c) => c,
            None => self
                .partitions
                .entry((topic.to_string(), partition))
                .or_insert(PartitionClock {
                    max_event: Some(t),
                    last_seen: now,
                }),
        };
        clock.max_event = Some(clock.max_event.map_or(t, |m| m.max(t)));
        clock.last_seen = clock.last_seen.max(now);
        self.advance(now)
    }

    /// Declares an assigned partition at processing time `now`, before its
    /// first message: until it delivers (or stays silent for the idle time)
    /// the watermark waits for it. A partition already known (restored from
    /// a checkpoint) counts as active again from `now`.
    pub fn register(&mut self, topic: &str, partition: i32, now: Millis) {
        let c = self
            .partitions
            .entry((topic.to_string(), partition))
            .or_insert(PartitionClock {
                max_event: None,
                last_seen: now,
            });
        c.last_seen = c.last_seen.max(now);
    }

    /// Takes the progress of `old` (restored from a checkpoint), keeping this
    /// instance's delay and idle time (the configuration may have changed).
    pub fn adopt(&mut self, old: Watermarks) {
        self.partitions = old.partitions;
        self.current = old.current;
    }

    /// Recomputes the watermark at processing time `now` (idle partitions
    /// stop counting); returns it. Call it periodically when no message
    /// arrives, so that windows of a quiet stream still close.
    pub fn advance(&mut self, now: Millis) -> Option<Millis> {
        let mut active = self
            .partitions
            .values()
            .filter(|c| now - c.last_seen <= self.idle)
            .peekable();
        let candidate = if active.peek().is_some() {
            // An active partition that has not delivered yet holds it back.
            active
                .map(|c| c.max_event.map(|m| m - self.delay))
                .min()
                .flatten()
        } else {
            // All partitions idle: the furthest one leads.
            self.partitions
                .values()
                .filter_map(|c| c.max_event)
                .max()
                .map(|m| m - self.delay)
        };
        if let Some(w) = candidate {
            if self.current.is_none_or(|c| w > c) {
                self.current = Some(w);
            }
        }
        self.current
    }
}

/// The start of the tumbling window of `size` ms holding `t`, aligned on
/// the epoch (so 1- and 5-minute windows are aligned on the minute).
pub fn window_start(t: Millis, size: Millis) -> Millis {
    t.div_euclid(size) * size
}

/// Tumbling windows of one size, keyed, holding an aggregate `A` each;
/// closed (returned) when the watermark reaches their end.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Tumbling<K: Ord, A> {
    size: Millis,
    /// (window start, key) → aggregate.
    open: BTreeMap<(Millis, K), A>,
}

/// A closed window.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed<K, A> {
    pub start: Millis,
    pub end: Millis,
    pub key: K,
    pub value: A,
}

impl<K: Ord + Clone, A: Default> Tumbling<K, A> {
    pub fn new(size: Millis) -> Tumbling<K, A> {
        Tumbling {
            size,
            open: BTreeMap::new(),
        }
    }

    /// The aggregate of the window holding `t` for `key`, or `None` when
    /// that window is already closed by `watermark` (the event is late and
    /// must not be added: FRAUD-3, C4).
    pub fn slot(&mut self, key: K, t: Millis, watermark: Option<Millis>) -> Option<&mut A> {
        let start = window_start(t, self.size);
        if watermark.is_some_and(|w| start + self.size <= w) {
            return None;
        }
        Some(self.open.entry((start, key)).or_default())
    }

    /// Removes and returns every window whose end is at or before the
    /// watermark, in (start, key) order.
    pub fn close(&mut self, watermark: Millis) -> Vec<Closed<K, A>> {
        let mut closed = Vec::new();
        while let Some(entry) = self.open.first_entry() {
            let (start, _) = entry.key();
            if start + self.size > watermark {
                break;
            }
            let ((start, key), value) = entry.remove_entry();
            closed.push(Closed {
                start,
                end: start + self.size,
                key,
                value,
            });
        }
        closed
    }

    /// Open windows (for metrics and tests).
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }
}

/// What a look-back window measures over `(t − duration, t]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Measure {
    /// Number of events.
    Count,
    /// Number of distinct values.
    Distinct,
}

/// Per-key look-back windows evaluated on each event (C4): an event at `t`
/// for `key` joins the key's window `(t − duration, t]`; when the measure
/// goes **above** `threshold` the rule fires once, and not again for that
/// key until the measure has fallen back to the threshold or below.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LookBack<K: Eq + Hash, V: Eq + Hash> {
    duration: Millis,
    threshold: usize,
    measure: Measure,
    keys: HashMap<K, KeyWindow<V>>,
    /// (event time, key) of every event added, oldest first: expiring visits
    /// only the keys whose events the watermark made old (amortised O(1)
    /// per event instead of a scan of every key).
    #[serde(default)]
    touched: VecDeque<(Millis, K)>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct KeyWindow<V: Eq + Hash> {
    events: VecDeque<(Millis, V)>,
    counts: HashMap<V, usize>,
    fired: bool,
}

impl<V: Eq + Hash> Default for KeyWindow<V> {
    fn default() -> Self {
        KeyWindow {
            events: VecDeque::new(),
            counts: HashMap::new(),
            fired: false,
        }
    }
}

impl<V: Eq + Hash + Clone> KeyWindow<V> {
    fn evict(&mut self, after: Millis) {
        while let Some((t, v)) = self.events.front() {
            if *t > after {
                break;
            }
            if let Some(n) = self.counts.get_mut(v) {
                *n -= 1;
                if *n == 0 {
                    self.counts.remove(v);
                }
            }
            self.events.pop_front();
        }
    }
    fn value(&self, m: Measure) -> usize {
        match m {
            Measure::Count => self.events.len(),
            Measure::Distinct => self.counts.len(),
        }
    }
}

/// The outcome of one event in a look-back window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// The measure over the window ending at this event.
    pub value: usize,
    /// This event crossed the threshold: raise the alert.
    pub fire: bool,
}

impl<K: Eq + Hash + Clone, V: Eq + Hash + Clone> LookBack<K, V> {
    pub fn new(duration: Millis, threshold: usize, measure: Measure) -> LookBack<K, V> {
        LookBack {
            duration,
            threshold,
            measure,
            keys: HashMap::new(),
            touched: VecDeque::new(),
        }
    }

    /// Adds an event at `t` with `value` (the card, the customer…; anything
    /// for [`Measure::Count`]) and evaluates the key's window ending at `t`.
    /// Events must arrive in event-time order per key for the window to be
    /// exact; an older event is still counted where it belongs.
    pub fn add(&mut self, key: K, t: Millis, value: V) -> Evaluation {
        if self
            .touched
            .back()
            .is_none_or(|(u, k)| *u != t || *k != key)
        {
            self.touched.push_back((t, key.clone()));
        }
        let w = self.keys.entry(key).or_default();
        let pos = w.events.partition_point(|(u, _)| *u <= t);
        w.events.insert(pos, (t, value.clone()));
        *w.counts.entry(value).or_insert(0) += 1;
        let latest = w.events.back().map_or(t, |(u, _)| *u);
        w.evict(latest - self.duration);
        let v = w.value(self.measure);
        let fire = if v > self.threshold {
            !std::mem::replace(&mut w.fired, true)
        } else {
            w.fired = false;
            false
        };
        Evaluation { value: v, fire }
    }

    /// The measure of `key`'s window ending at `t`, without adding an event.
    pub fn peek(&mut self, key: &K, t: Millis) -> usize {
        match self.keys.get_mut(key) {
            Some(w) => {
                w.evict(t - self.duration);
                w.value(self.measure)
            }
            None => 0,
        }
    }

    /// Forgets what the watermark has made irrelevant: events at or before
    /// `watermark − duration`, and keys left empty (state stays bounded on
    /// an endless stream). A key whose window empties has fallen back.
    pub fn expire(&mut self, watermark: Millis) {
        let after = watermark - self.duration;
        while let Some((t, _)) = self.touched.front() {
            // Events arrive in event-time order (the jobs' `Reorder`); an
            // older one added late is still reached when its key's next
            // entry is.
            if *t > after {
                break;
            }
            let Some((_, key)) = self.touched.pop_front() else {
                break;
            };
            if let Some(w) = self.keys.get_mut(&key) {
                w.evict(after);
                if w.events.is_empty() {
                    self.keys.remove(&key);
                }
            }
        }
    }

    /// Takes the keyed state of `old` (restored from a checkpoint), keeping
    /// this instance's duration and threshold.
    pub fn adopt(&mut self, old: LookBack<K, V>) {
        self.keys = old.keys;
        self.touched = old.touched;
    }

    /// Keys holding state.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Millis = 1_000;
    const MIN: Millis = 60 * S;

    #[test]
    fn watermark_is_the_slowest_active_partition_minus_the_delay() {
        let mut w = Watermarks::new(10 * S, 30 * S);
        assert_eq!(w.current(), None);
        assert!(!w.is_late(0));
        w.observe("payments", 0, 100 * S, 0);
        assert_eq!(w.current(), Some(90 * S));
        w.observe("payments", 1, 50 * S, 0);
        // Never backwards, even when a slower partition appears.
        assert_eq!(w.current(), Some(90 * S));
        w.observe("payments", 0, 200 * S, S);
        // Partition 1 holds it at 50 − 10 = 40 < 90: unchanged.
        assert_eq!(w.current(), Some(90 * S));
        w.observe("payments", 1, 150 * S, 2 * S);
        assert_eq!(w.current(), Some(140 * S));
        assert!(w.is_late(139 * S));
        assert!(!w.is_late(140 * S));
    }

    #[test]
    fn an_idle_partition_stops_holding_the_watermark() {
        let mut w = Watermarks::new(10 * S, 30 * S);
        w.observe("orders", 0, 100 * S, 0);
        w.observe("orders", 1, 20 * S, 0);
        assert_eq!(w.current(), Some(90 * S));
        w.observe("orders", 0, 300 * S, 10 * S);
        assert_eq!(w.current(), Some(90 * S), "partition 1 still active");
        // 31 s of processing time without a message on partition 1.
        assert_eq!(w.advance(31 * S), Some(290 * S));
        // Everything idle: the watermark stays where the leader put it.
        assert_eq!(w.advance(100 * S), Some(290 * S));
    }

    #[test]
    fn an_assigned_partition_holds_the_watermark_until_it_delivers_or_idles() {
        let mut w = Watermarks::new(10 * S, 30 * S);
        w.register("payments", 0, 0);
        w.register("payments", 1, 0);
        w.observe("payments", 0, 100 * S, S);
        assert_eq!(w.current(), None, "partition 1 has not delivered");
        w.observe("payments", 1, 95 * S, 2 * S);
        assert_eq!(w.current(), Some(85 * S));
        // A partition that never delivers stops holding it after the idle time.
        let mut w = Watermarks::new(10 * S, 30 * S);
        w.register("payments", 0, 0);
        w.register("payments", 1, 0);
        w.observe("payments", 0, 100 * S, 40 * S);
        assert_eq!(w.current(), Some(90 * S));
        // State carried over keeps the new delay.
        let mut fresh = Watermarks::new(5 * S, 30 * S);
        fresh.adopt(w);
        assert_eq!(fresh.current(), Some(90 * S));
        assert_eq!(fresh.advance(41 * S), Some(95 * S));
    }

    #[test]
    fn lateness_is_decided_by_the_event_s_own_partition() {
        let mut w = Watermarks::new(10 * S, 30 * S);
        w.register("orders", 0, 0);
        w.register("orders", 1, 0);
        w.observe("orders", 0, 100 * S, 0);
        // Partition 1 has not delivered: nothing is late yet, anywhere.
        assert!(!w.is_late_on("orders", 1, 5 * S));
        // 11 s older than what partition 0 saw: late there, whatever the others did.
        assert!(w.is_late_on("orders", 0, 89 * S));
        assert!(!w.is_late_on("orders", 0, 90 * S));
        w.observe("orders", 1, 50 * S, 0);
        assert!(!w.is_late_on("orders", 1, 41 * S));
        assert!(w.is_late_on("orders", 1, 39 * S));
    }

    #[test]
    fn windows_are_aligned_on_the_minute() {
        assert_eq!(window_start(0, MIN), 0);
        assert_eq!(window_start(59_999, MIN), 0);
        assert_eq!(window_start(60_000, MIN), MIN);
        assert_eq!(window_start(7 * MIN + 5, 5 * MIN), 5 * MIN);
        assert_eq!(window_start(-1, MIN), -MIN);
    }

    #[test]
    fn a_window_closes_when_the_watermark_reaches_its_end_and_late_events_stay_out() {
        let mut t: Tumbling<String, u32> = Tumbling::new(MIN);
        *t.slot("EUR".into(), 10 * S, None).unwrap() += 1;
        *t.slot("EUR".into(), 59 * S, Some(5 * S)).unwrap() += 1;
        *t.slot("USD".into(), 30 * S, Some(5 * S)).unwrap() += 1;
        *t.slot("EUR".into(), 61 * S, Some(5 * S)).unwrap() += 1;
        assert!(t.close(MIN - 1).is_empty(), "one ms before the end: open");
        let closed = t.close(MIN);
        assert_eq!(closed.len(), 2);
        assert_eq!(
            closed[0],
            Closed {
                start: 0,
                end: MIN,
                key: "EUR".to_string(),
                value: 2
            }
        );
        assert_eq!(closed[1].key, "USD");
        // An event of the closed minute is late: no slot.
        assert!(t.slot("EUR".into(), 59 * S, Some(MIN)).is_none());
        assert_eq!(t.open_windows(), 1);
        assert_eq!(t.close(2 * MIN)[0].value, 1);
    }

    #[test]
    fn look_back_fires_on_the_crossing_event_once_until_it_falls_back() {
        // Card testing: more than 3 attempts in 5 s (C4): 3 is the negative control.
        let mut lb: LookBack<&str, ()> = LookBack::new(5 * S, 3, Measure::Count);
        let fires: Vec<bool> = [0, 1, 2, 3, 4, 4_500]
            .iter()
            .map(|ms| lb.add("session", *ms, ()).fire)
            .collect();
        assert_eq!(fires, [false, false, false, true, false, false]);
        // (3 s, 8 s] holds 4.5 s and 8 s: back under the threshold.
        let e = lb.add("session", 8 * S, ());
        assert_eq!((e.value, e.fire), (2, false));
        assert!(
            !lb.add("session", 8 * S + 1, ()).fire,
            "3: at the threshold"
        );
        let e = lb.add("session", 8 * S + 2, ());
        assert_eq!(
            (e.value, e.fire),
            (4, true),
            "fires again after falling back"
        );
    }

    #[test]
    fn look_back_window_excludes_its_start() {
        let mut lb: LookBack<u8, ()> = LookBack::new(5 * S, 1, Measure::Count);
        lb.add(1, 0, ());
        // Exactly 5 s later the first event is out of (t − 5 s, t].
        assert!(!lb.add(1, 5 * S, ()).fire);
        assert!(lb.add(1, 5 * S + 1, ()).fire);
    }

    #[test]
    fn distinct_values_and_exact_thresholds() {
        // Card portfolio: more than 2 distinct cards in 10 min; 2 does not fire.
        let mut lb: LookBack<&str, &str> = LookBack::new(10 * MIN, 2, Measure::Distinct);
        assert!(!lb.add("cust", 0, "card-a").fire);
        assert!(!lb.add("cust", S, "card-a").fire);
        assert!(!lb.add("cust", 2 * S, "card-b").fire);
        let e = lb.add("cust", 3 * S, "card-c");
        assert_eq!((e.value, e.fire), (3, true));
        // Keys are independent.
        assert!(!lb.add("other", 3 * S, "card-c").fire);
    }

    #[test]
    fn state_expires_by_event_time() {
        let mut lb: LookBack<u32, ()> = LookBack::new(5 * MIN, 10, Measure::Count);
        for key in 0..1_000 {
            lb.add(key, i64::from(key) * S, ());
        }
        assert_eq!(lb.keys(), 1_000);
        lb.expire(1_000 * S + 5 * MIN);
        assert_eq!(lb.keys(), 0, "flat memory on an endless stream");
    }

    #[test]
    fn an_out_of_order_event_lands_where_it_belongs() {
        let mut lb: LookBack<u8, ()> = LookBack::new(5 * S, 2, Measure::Count);
        lb.add(1, 10 * S, ());
        lb.add(1, 12 * S, ());
        // 9 s arrives late but is inside (12 − 5, 12]: the count is 3.
        let e = lb.add(1, 9 * S, ());
        assert_eq!((e.value, e.fire), (3, true));
    }
}
