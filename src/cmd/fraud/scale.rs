//! `kvt fraud run <job> --scale-out`: one of several processes of a job
//! (the Kafka Streams model; the topology and why it is deterministic are in
//! `fraud::shard`). Kafka is the only coordination: the consumer group
//! splits the input partitions and the partitions of the internal topics
//! `kvt_<job>_by_<key>` between the processes; every partition is a task
//! with its own state and its own checkpoints in the store
//! (`fraud/<job>/tasks/<topic>-<p>/checkpoints/`), so a partition moves from
//! a process to another with its state.
//!
//! Exactly once, as for a single process: a task's checkpoint records its
//! input offset and the end offsets of the outputs once everything it
//! produced before was acknowledged; the process that takes a task over
//! reads back what was published after that checkpoint and does not send it
//! again. Events a restored source task forwards again are dropped by the
//! keyed tasks (they remember the last source position they hold). Before
//! giving its partitions up in a rebalance a process flushes its producer,
//! so the next owner reads back everything it sent.

use std::collections::HashMap;

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};

use super::*;
use crate::fraud::shard::{self, Forward, KeyedTask, Send, SourceTask, Stream};

/// Rebalances as the main loop needs to see them: partitions revoked, and
/// the producer to flush before they are given up.
#[derive(Default)]
struct GroupContext {
    producer: std::sync::OnceLock<Arc<ThreadedProducer<Deliveries>>>,
    revoked: Mutex<Vec<(String, i32)>>,
    assigned: Mutex<Vec<(String, i32)>>,
    flush_timeout: Duration,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let parts: Vec<(String, i32)> = tpl
                .elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect();
            tracing::info!("assigned {} partition(s)", parts.len());
            if let Ok(mut a) = self.assigned.lock() {
                a.extend(parts);
            }
        }
    }

    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            tracing::info!("revoked {} partition(s)", tpl.count());
            // Everything sent for these partitions must be on the broker
            // before another process takes them (it reads outputs back).
            if let Some(p) = self.producer.get() {
                if let Err(e) = p.flush(self.flush_timeout) {
                    tracing::warn!("flushing before a rebalance: {e}");
                }
            }
            if let Ok(mut r) = self.revoked.lock() {
                r.extend(
                    tpl.elements()
                        .iter()
                        .map(|e| (e.topic().to_string(), e.partition())),
                );
            }
        }
    }
}

/// A task's engine: an input partition's or an internal partition's.
enum Role {
    Source(SourceTask),
    Keyed(KeyedTask),
}

impl Role {
    fn job_mut(&mut self) -> &mut Job {
        match self {
            Role::Source(s) => &mut s.job,
            Role::Keyed(k) => &mut k.job,
        }
    }
}

/// One partition's work, with what makes it restartable elsewhere.
struct Task {
    /// `<job>.<topic>-<partition>`: names its archive files.
    name: String,
    role: Role,
    /// Next offset to process.
    next: i64,
    /// When the consumer was sent back to `next` (it fetched from the
    /// group's committed offset, ahead of the checkpoint).
    sought: Option<Instant>,
    /// Last checkpoint written.
    seq: u64,
    archive: Archive,
    in_doubt: HashSet<String>,
    /// The partition's end when the task was opened: the replay after a
    /// restore has caught up with what the previous owner processed there
    /// (the in-doubt set is cleared), and `--exit-when-idle` waits for it.
    replayed_at: i64,
}

/// What a task checkpoint holds besides the engine's state.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct TaskMeta {
    clock: shard::SourceClock,
    seen: shard::Seen,
}

fn encode_state(t: &Task) -> Vec<u8> {
    let (meta, job) = match &t.role {
        Role::Source(s) => (
            TaskMeta {
                clock: s.clock.clone(),
                ..Default::default()
            },
            s.stateful().then(|| s.job.state()),
        ),
        Role::Keyed(k) => (
            TaskMeta {
                seen: k.seen.clone(),
                ..Default::default()
            },
            Some(k.job.state()),
        ),
    };
    let meta = rmp_serde::to_vec(&meta).unwrap_or_default();
    let mut out = (meta.len() as u32).to_le_bytes().to_vec();
    out.extend(meta);
    out.extend(job.unwrap_or_default());
    out
}

fn decode_state(bytes: &[u8]) -> Result<(TaskMeta, &[u8]), String> {
    let (meta, job) = runner::split_prefixed(bytes).ok_or("truncated task state")?;
    let meta = rmp_serde::from_slice(meta).map_err(|e| format!("unreadable task state: {e}"))?;
    Ok((meta, job))
}

/// Runs `f` on the runner with `t`'s engine, archive and in-doubt set.
fn with_task<R>(r: &mut Runner, t: &mut Task, f: impl FnOnce(&mut Runner) -> R) -> R {
    std::mem::swap(&mut r.job, t.role.job_mut());
    std::mem::swap(&mut r.archive, &mut t.archive);
    std::mem::swap(&mut r.in_doubt, &mut t.in_doubt);
    let out = f(r);
    std::mem::swap(&mut r.job, t.role.job_mut());
    std::mem::swap(&mut r.archive, &mut t.archive);
    std::mem::swap(&mut r.in_doubt, &mut t.in_doubt);
    out
}

/// The internal topics of the job on the cluster: (name, stream).
type Internal = Vec<(String, &'static Stream)>;

impl FraudRun {
    fn task_checkpoints(&self, canonical: &str, partition: i32) -> String {
        format!("{}/tasks/{canonical}-{partition}", self.kind.name())
    }

    /// Restores (or starts) the task of `topic`/`partition`.
    #[allow(clippy::too_many_arguments)]
    fn open_task(
        &self,
        rt: &tokio::runtime::Handle,
        consumer: &BaseConsumer<GroupContext>,
        topic: &str,
        partition: i32,
        inputs: &[(String, i32)],
        outputs: &[(String, i32, i64)],
        r: &mut Runner,
    ) -> anyhow::Result<Task> {
        let canonical = self.canonical(topic).to_string();
        let stream = shard::stream_of(self.kind, &canonical);
        let name = format!("{}.{canonical}-{partition}", self.kind.name());
        let checkpoints = self.task_checkpoints(&canonical, partition);
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, self.broker_timeout)
            .with_context(|| format!("cannot read the offsets of {topic}/{partition}"))?;
        let (restored, _) = rt.block_on(self.latest_checkpoint_of(&checkpoints))?;
        let now = now_ms();
        let fresh = Job::for_stream(self.kind, stream, &self.rules);
        let (meta, job, next, seq, in_doubt) = match restored {
            Some((c, state)) => {
                let context =
                    |e: String| anyhow::anyhow!("checkpoint {} of task {name}: {e}", c.seq);
                let (meta, job_state) = decode_state(&state).map_err(context)?;
                let job = if job_state.is_empty() {
                    fresh
                } else {
                    fresh.with_state(job_state).map_err(context)?
                };
                let next = c.input_offset(topic, partition).unwrap_or(low).max(low);
                let dropped = rt.block_on(self.drop_unfinished_archive_of(&name, c.seq))?;
                let mut in_doubt = self.published_after(&c)?;
                in_doubt.extend(c.published_ahead.iter().cloned());
                tracing::info!(
                    task = %name,
                    checkpoint = c.seq,
                    offset = next,
                    "task taken over; {} output(s) already published, {dropped} unfinished archive file(s) removed",
                    in_doubt.len()
                );
                (meta, job, next, c.seq, in_doubt)
            }
            None => {
                let next = match (stream, self.start) {
                    // Internal topics: everything, they belong to the job.
                    (Some(_), _) | (None, Start::Beginning) => low,
                    (None, Start::Resume) => high,
                    (None, Start::At(ms)) => {
                        let mut tpl = TopicPartitionList::new();
                        tpl.add_partition_offset(topic, partition, Offset::Offset(ms))?;
                        match consumer
                            .offsets_for_times(tpl, self.broker_timeout)?
                            .find_partition(topic, partition)
                            .map(|e| e.offset())
                        {
                            Some(Offset::Offset(o)) => o.clamp(low, high),
                            _ => high,
                        }
                    }
                };
                tracing::info!(task = %name, offset = next, "task started");
                (TaskMeta::default(), fresh, next, 0, HashSet::new())
            }
        };
        let role = match stream {
            Some(s) => {
                let mut k = KeyedTask::new(self.kind, s, job);
                k.seen = meta.seen;
                for (t, p) in inputs {
                    k.job.register(self.canonical(t), *p, now);
                }
                Role::Keyed(k)
            }
            None => {
                let mut s = SourceTask::new(
                    self.kind,
                    &canonical,
                    partition,
                    job,
                    self.rules.windows.watermark_delay,
                );
                s.clock = meta.clock;
                Role::Source(s)
            }
        };
        let mut task = Task {
            name,
            role,
            next,
            sought: None,
            seq,
            archive: Archive::default(),
            in_doubt,
            replayed_at: high,
        };
        if task.seq == 0 {
            // Where the task starts, so that a crash before its first
            // periodic checkpoint resumes here.
            self.checkpoint_task(rt, r, &mut task, topic, partition, outputs)?;
        }
        Ok(task)
    }

    /// Archive, then the task's checkpoint (create-if-absent: a task another
    /// process took over meanwhile is refused).
    fn checkpoint_task(
        &self,
        rt: &tokio::runtime::Handle,
        r: &mut Runner,
        t: &mut Task,
        topic: &str,
        partition: i32,
        outputs: &[(String, i32, i64)],
    ) -> anyhow::Result<(u64, u64)> {
        let seq = t.seq + 1;
        let c = Checkpoint {
            job: t.name.clone(),
            seq,
            created_at: now_ms(),
            inputs: vec![(topic.to_string(), partition, t.next)],
            outputs: outputs.to_vec(),
            counters: BTreeMap::new(),
            published_ahead: t.in_doubt.iter().cloned().collect(),
        };
        let bytes = c.encode(&encode_state(t));
        let name = self.task_checkpoints(self.canonical(topic), partition);
        let key = Key::new(runner::checkpoint_key(&name, seq));
        let files = t.archive.take(&t.name, seq);
        let written = rt.block_on(async {
            let (mut n, mut size) = (0, 0);
            for (k, body) in files {
                size += body.len() as u64;
                n += 1;
                self.store
                    .put(&Key::new(k), Bytes::from(body), &Default::default())
                    .await?;
            }
            anyhow::ensure!(
                self.store.create(&key, Bytes::from(bytes)).await?,
                "checkpoint {} already exists: another process took task {} over",
                self.store.display_key(&key),
                t.name
            );
            for o in self
                .store
                .list(&Key::new(runner::checkpoint_prefix(&name)))
                .await?
            {
                if runner::checkpoint_seq(o.key.as_str())
                    .is_some_and(|s| s + self.checkpoints_kept as u64 <= seq)
                {
                    self.store.delete(&o.key).await?;
                }
            }
            Ok((n, size))
        })?;
        t.seq = seq;
        r.stats.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(written)
    }

    /// Sends forwards to the internal topics.
    fn send_all(
        &self,
        producer: &ThreadedProducer<Deliveries>,
        internal: &Internal,
        partitions: i32,
        sends: Vec<Send>,
    ) -> anyhow::Result<()> {
        for s in sends {
            let Some((topic, _)) = internal.get(s.stream) else {
                continue;
            };
            let ts = match &s.forward {
                Forward::Event { timestamp, .. } => *timestamp,
                Forward::Marker { max_event, .. } => *max_event,
            };
            send_waiting(
                producer,
                BaseRecord::to(topic)
                    .partition(shard::partition_for(&s.key, partitions))
                    .key(s.key.as_str())
                    .payload(s.forward.encode().as_slice())
                    .timestamp(ts),
            )?;
        }
        Ok(())
    }

    /// One message of a task: its outputs handled, its forwards sent.
    #[allow(clippy::too_many_arguments)]
    fn task_message(
        &self,
        r: &mut Runner,
        t: &mut Task,
        producer: &ThreadedProducer<Deliveries>,
        internal: &Internal,
        partitions: i32,
        m: &Message,
        has_timestamp: bool,
    ) -> anyhow::Result<()> {
        let now = now_ms();
        let disabled = &self.rules.disabled;
        let (outs, sends) = match &mut t.role {
            Role::Source(_) if !has_timestamp => {
                r.stats.messages.fetch_add(1, Ordering::Relaxed);
                let dead = Output::DeadLetter {
                    topic: m.topic.to_string(),
                    partition: m.partition,
                    offset: m.offset,
                    reason: "no Kafka timestamp (the event time, FRAUD-2)".into(),
                };
                (vec![dead], Vec::new())
            }
            Role::Source(s) => {
                r.stats.messages.fetch_add(1, Ordering::Relaxed);
                s.message(m, now, disabled)
            }
            Role::Keyed(k) => match Forward::decode(m.value) {
                Ok(f) => (k.message(&f, now, disabled), Vec::new()),
                Err(e) => {
                    tracing::warn!(task = %t.name, "skipping a message kvt did not write: {e}");
                    return Ok(());
                }
            },
        };
        self.send_all(producer, internal, partitions, sends)?;
        if !outs.is_empty() {
            with_task(r, t, |r| r.handle(outs, Some(m)))?;
        }
        Ok(())
    }

    /// The passing of processing time for every task: windows close,
    /// source partitions' progress goes to every internal partition.
    fn tick_all(
        &self,
        r: &mut Runner,
        tasks: &mut HashMap<(String, i32), Task>,
        producer: &ThreadedProducer<Deliveries>,
        internal: &Internal,
        partitions: i32,
    ) -> anyhow::Result<()> {
        let now = now_ms();
        let disabled = &self.rules.disabled;
        for ((topic, p), t) in tasks.iter_mut() {
            let (outs, sends) = match &mut t.role {
                Role::Source(s) => s.tick(now, disabled),
                Role::Keyed(k) => (k.tick(now, disabled), Vec::new()),
            };
            self.send_all(producer, internal, partitions, sends)?;
            if let Role::Source(s) = &mut t.role {
                if let Some(max_event) = s.clock.marker() {
                    let marker = Forward::Marker {
                        topic: self.canonical(topic).to_string(),
                        partition: *p,
                        max_event,
                    }
                    .encode();
                    for (it, _) in internal {
                        for target in 0..partitions {
                            send_waiting(
                                producer,
                                BaseRecord::<str, [u8]>::to(it)
                                    .partition(target)
                                    .payload(marker.as_slice())
                                    .timestamp(max_event),
                            )?;
                        }
                    }
                }
            }
            if !outs.is_empty() {
                with_task(r, t, |r| r.handle(outs, None))?;
            }
        }
        let keys: usize = tasks
            .values_mut()
            .map(|t| t.role.job_mut().state_keys())
            .sum();
        r.stats.state_keys.store(keys as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Flush, then every task's archive and checkpoint, then the group's
    /// offsets. Returns the archive files and bytes written.
    fn checkpoint_all(
        &self,
        rt: &tokio::runtime::Handle,
        r: &mut Runner,
        tasks: &mut HashMap<(String, i32), Task>,
        consumer: &BaseConsumer<GroupContext>,
        producer: &ThreadedProducer<Deliveries>,
        start_ends: &BTreeMap<(String, i32), i64>,
    ) -> anyhow::Result<(u64, u64)> {
        let started = Instant::now();
        acknowledged(producer, self.broker_timeout, &r.stats)?;
        let ends = output_ends_now(start_ends, Some(producer));
        let (mut files, mut bytes) = (0, 0);
        let mut lost = Vec::new();
        let mut tpl = TopicPartitionList::new();
        for ((topic, p), t) in tasks.iter_mut() {
            match self.checkpoint_task(rt, r, t, topic, *p, &ends) {
                Ok((f, b)) => {
                    files += f;
                    bytes += b;
                    tpl.add_partition_offset(topic, *p, Offset::Offset(t.next))?;
                }
                Err(e) if format!("{e:#}").contains("another process") => {
                    tracing::warn!("{e:#}; dropping the task");
                    lost.push((topic.clone(), *p));
                }
                Err(e) => return Err(e),
            }
        }
        for k in lost {
            tasks.remove(&k);
        }
        if tpl.count() > 0 {
            if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
                tracing::warn!("committing offsets to group `{}`: {e}", self.group);
            }
        }
        let s = &r.stats;
        s.last_checkpoint.store(now_ms(), Ordering::Relaxed);
        s.checkpoint_micros
            .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        Ok((files, bytes))
    }

    /// The scaled-out live loop (blocking: librdkafka's poll).
    pub(super) fn scaled(
        &self,
        rt: &tokio::runtime::Handle,
        stop: &AtomicBool,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Summary> {
        let name = self.kind.name();
        let mut summary = Summary {
            mode: "live scale-out",
            ..Default::default()
        };
        if let Some(addr) = &self.metrics_listen {
            let bound = serve_metrics(addr, name, Arc::clone(&stats), self.checkpoint_interval)?;
            tracing::info!("metrics on http://{bound}/metrics, health on http://{bound}/health");
        }
        let context = GroupContext {
            flush_timeout: self.broker_timeout,
            ..Default::default()
        };
        let consumer =
            self.kafka
                .group_consumer(&format!("kvt-fraud-{name}"), &self.group, context)?;
        // Input partitions, and as many for each internal topic.
        let mut inputs: Vec<(String, i32)> = Vec::new();
        for t in self.kind.input_topics() {
            let t = format!("{}{t}", self.topic_prefix);
            let ps =
                crate::kafka::partitions(&consumer, &self.kafka.brokers, &t, self.broker_timeout)
                    .map_err(anyhow::Error::msg)?;
            inputs.extend(ps.into_iter().map(|p| (t.clone(), p)));
        }
        let partitions = inputs.iter().map(|(_, p)| p + 1).max().unwrap_or(1);
        let internal: Internal = shard::streams(self.kind)
            .iter()
            .map(|s| {
                (
                    format!(
                        "{}{}",
                        self.topic_prefix,
                        shard::internal_topic(self.kind, s)
                    ),
                    s,
                )
            })
            .collect();
        let outputs: Vec<String> = self
            .kind
            .output_topics()
            .iter()
            .map(|t| format!("{}{t}", self.topic_prefix))
            .collect();
        let internal_names: Vec<String> = internal.iter().map(|(t, _)| t.clone()).collect();
        let mut created = self.kafka.create_topics(
            &outputs,
            crate::kafka::PARTITIONS,
            crate::kafka::RETENTION,
        )?;
        created.extend(self.kafka.create_topics(
            &internal_names,
            partitions,
            crate::kafka::RETENTION,
        )?);
        if !created.is_empty() {
            tracing::info!("created topics {}", created.join(", "));
        }
        let start_ends = self.output_ends(&consumer, &outputs)?;
        let producer = Arc::new(self.kafka.producer_with(
            &format!("kvt-fraud-{name}"),
            "1",
            "0",
            Deliveries::default(),
        )?);
        let _ = consumer.context().producer.set(Arc::clone(&producer));
        let influx = match crate::influx::Target::from_env()? {
            Some(target) => {
                let w = crate::influx::Writer::spawn(target, rt)?;
                let _ = stats.influx.set(Arc::clone(&w.stats));
                Some(w)
            }
            None => None,
        };
        let mut subscribed: Vec<&str> = inputs
            .iter()
            .map(|(t, _)| t.as_str())
            .chain(internal_names.iter().map(String::as_str))
            .collect();
        subscribed.dedup();
        consumer
            .subscribe(&subscribed)
            .with_context(|| format!("cannot join group `{}`", self.group))?;
        tracing::info!(
            group = %self.group,
            "scale-out: {} input partition(s), internal topics {} × {partitions}",
            inputs.len(),
            internal_names.join(", ")
        );

        let mut r = Runner {
            run: self,
            job: Job::new(self.kind, &self.rules),
            sink: Sink::Kafka(Arc::clone(&producer)),
            archive: Archive::default(),
            in_doubt: HashSet::new(),
            stats: Arc::clone(&stats),
            influx,
        };
        let mut tasks: HashMap<(String, i32), Task> = HashMap::new();
        let mut last_checkpoint = Instant::now();
        let mut next_try = self.checkpoint_interval;
        let mut last_tick = Instant::now();
        let mut last_message = Instant::now();
        let mut last_point = Instant::now();
        let mut last_error_log: Option<Instant> = None;
        let archived = |s: &mut Summary, (files, bytes): (u64, u64)| {
            s.archive_files += files;
            s.archive_bytes += bytes;
        };
        loop {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let polled = consumer.poll(Duration::from_millis(50));
            // Partitions given up in a rebalance during that poll: their
            // state goes (the next owner restores their checkpoint).
            let revoked: Vec<(String, i32)> = consumer
                .context()
                .revoked
                .lock()
                .map(|mut r| std::mem::take(&mut *r))
                .unwrap_or_default();
            for k in &revoked {
                if let Some(t) = tasks.remove(k) {
                    tracing::info!(task = %t.name, "task given up in a rebalance");
                }
            }
            // Partitions received: their tasks restored now, so that a
            // task's state lives on even when no message comes.
            let assigned: Vec<(String, i32)> = consumer
                .context()
                .assigned
                .lock()
                .map(|mut a| std::mem::take(&mut *a))
                .unwrap_or_default();
            let current = if assigned.is_empty() {
                None
            } else {
                consumer.assignment().ok()
            };
            for (topic, partition) in assigned {
                let ours = current
                    .as_ref()
                    .is_some_and(|a| a.find_partition(&topic, partition).is_some());
                if !ours || tasks.contains_key(&(topic.clone(), partition)) {
                    continue;
                }
                let outs_now = output_ends_now(&start_ends, Some(producer.as_ref()));
                let t =
                    self.open_task(rt, &consumer, &topic, partition, &inputs, &outs_now, &mut r)?;
                last_message = Instant::now();
                tasks.insert((topic, partition), t);
            }
            match polled {
                Some(Ok(km)) => {
                    stats.broker_down_since.store(0, Ordering::Relaxed);
                    let (topic, partition, offset) = (km.topic(), km.partition(), km.offset());
                    let key = (topic.to_string(), partition);
                    if !tasks.contains_key(&key) {
                        let ours = consumer
                            .assignment()
                            .is_ok_and(|a| a.find_partition(topic, partition).is_some());
                        if !ours {
                            continue;
                        }
                        let outs_now = output_ends_now(&start_ends, Some(producer.as_ref()));
                        let t = self.open_task(
                            rt, &consumer, topic, partition, &inputs, &outs_now, &mut r,
                        )?;
                        tasks.insert(key.clone(), t);
                    }
                    let Some(t) = tasks.get_mut(&key) else {
                        continue;
                    };
                    if offset < t.next {
                        continue;
                    }
                    if offset > t.next {
                        match t.sought {
                            None => {
                                // Fetched from the group's committed offset,
                                // ahead of the checkpoint: go back to it.
                                t.sought = Some(Instant::now());
                                consumer
                                    .seek(
                                        topic,
                                        partition,
                                        Offset::Offset(t.next),
                                        self.broker_timeout,
                                    )
                                    .with_context(|| format!("seeking {topic}/{partition}"))?;
                                continue;
                            }
                            // Messages fetched before the seek took effect.
                            Some(at) if at.elapsed() < Duration::from_secs(10) => continue,
                            Some(_) => tracing::warn!(
                                "{topic}/{partition}: offsets {}..{offset} are gone from the topic",
                                t.next
                            ),
                        }
                    }
                    t.next = offset + 1;
                    last_message = Instant::now();
                    let ts = km.timestamp().to_millis();
                    let m = Message {
                        topic: self.canonical(topic),
                        partition,
                        offset,
                        timestamp: ts.unwrap_or(0),
                        value: km.payload().unwrap_or_default(),
                    };
                    self.task_message(
                        &mut r,
                        t,
                        &producer,
                        &internal,
                        partitions,
                        &m,
                        ts.is_some(),
                    )?;
                    if t.next >= t.replayed_at && !t.in_doubt.is_empty() {
                        // Caught up with what the previous owner had
                        // processed: what was not regenerated is not ours.
                        t.in_doubt.clear();
                    }
                }
                Some(Err(e)) => stats.broker_error(&e, &mut last_error_log),
                None => {}
            }
            if last_tick.elapsed() >= Duration::from_millis(100) {
                self.tick_all(&mut r, &mut tasks, &producer, &internal, partitions)?;
                last_tick = Instant::now();
            }
            if last_point.elapsed() >= Duration::from_secs(10) {
                r.counters_point(now_ms());
                last_point = Instant::now();
            }
            if last_checkpoint.elapsed() >= next_try {
                self.tick_all(&mut r, &mut tasks, &producer, &internal, partitions)?;
                let result =
                    self.checkpoint_all(rt, &mut r, &mut tasks, &consumer, &producer, &start_ends);
                let now = now_ms();
                for t in tasks.values_mut() {
                    if let Role::Keyed(k) = &mut t.role {
                        for (tp, p) in &inputs {
                            k.job.register(self.canonical(tp), *p, now);
                        }
                    }
                }
                match result {
                    Ok(w) => {
                        archived(&mut summary, w);
                        next_try = self.checkpoint_interval;
                    }
                    Err(e) => {
                        tracing::warn!("checkpoint not written, retrying in 5 s: {e:#}");
                        next_try = Duration::from_secs(5);
                    }
                }
                last_checkpoint = Instant::now();
            }
            if let Some(idle) = self.exit_when_idle {
                // Silence only counts once every task has read what its
                // partition held when it was opened (a slow broker is not idle).
                let behind = tasks.values().any(|t| t.next < t.replayed_at);
                if !behind && last_message.elapsed() >= idle {
                    tracing::info!("no message for {idle:?}: stopping");
                    break;
                }
            }
        }
        self.tick_all(&mut r, &mut tasks, &producer, &internal, partitions)?;
        let w = self
            .checkpoint_all(rt, &mut r, &mut tasks, &consumer, &producer, &start_ends)
            .context("final checkpoint not written; the next owner of each task resumes from its previous one and loses nothing")?;
        archived(&mut summary, w);
        summary.last_checkpoint = tasks.values().map(|t| t.seq).max();
        r.counters_point(now_ms());
        if let Some(w) = r.influx.take() {
            w.close(rt, Duration::from_secs(10));
        }
        // Leave the group now: the others take the partitions over at once.
        consumer.unsubscribe();
        std::io::stdout().flush()?;
        Ok(summary)
    }
}
