//! `kvt status`, the judgement: which steps the configuration expects, when
//! each was last due (its cron schedule, UTC), whether it ran since, with
//! what result, and who holds a lock. Pure: the command gathers the run
//! records and the locks, this module decides and renders.

use std::collections::BTreeMap;
use std::str::FromStr as _;
use std::time::Duration;

use chrono::{DateTime, Duration as Span, DurationRound as _, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::history::RunRecord;
use crate::lock::LockInfo;

/// Default schedules of the steps that have no `[sources.*]` entry (OPS-13).
pub const DEFAULT_KAFKA: &str = "0 0 * * *";
pub const DEFAULT_WAREHOUSE: &str = "30 6 * * *";
/// The `[schedule] kafka` value of a site without Kafka.
pub const OFF: &str = "off";
/// A step due at T is late when nothing ran by T + grace.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// How far back a schedule's last fire time is looked for.
const LOOKBACK_DAYS: i64 = 32;

/// A step the configuration expects to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// What an operator reads: `ingest drive nginx`, `silver orders`, `gold`.
    pub step: String,
    /// The command words of its runs.
    pub command: String,
    /// The name its runs carry, when it identifies the step (a drive source).
    pub name: Option<String>,
    /// Cron expression (UTC) of when it is due; `None`: on demand.
    pub schedule: Option<String>,
}

fn expected(step: String, command: &str, name: Option<&str>, schedule: Option<String>) -> Expected {
    Expected {
        step,
        command: command.to_string(),
        name: name.map(str::to_string),
        schedule,
    }
}

/// The silver tables and the ingestion they follow (`None`: Kafka).
const SILVER: &[(&str, Option<&str>)] = &[
    ("payments", None),
    ("orders", None),
    ("nginx", Some("nginx")),
    ("firebase", Some("firebase")),
    ("kyc", Some("kyc")),
    ("crm", Some("crm")),
    ("logistics", Some("logistics")),
];

/// The steps of the nightly chain, in chain order, with their schedules:
/// `[schedule]` for Kafka and the warehouse steps, `[sources.X].schedule`
/// for a drive source, and silver at the time of its ingestion.
pub fn expected_steps(config: &Config) -> Vec<Expected> {
    let sch = &config.schedule;
    let kafka = sch.kafka.clone().unwrap_or_else(|| DEFAULT_KAFKA.into());
    // `kafka = "off"`: a site without Kafka expects no Kafka steps.
    let kafka = (kafka != OFF).then_some(kafka);
    let mut out = Vec::new();
    if kafka.is_some() {
        out.push(expected(
            "ingest kafka".into(),
            "ingest kafka",
            None,
            kafka.clone(),
        ));
    }
    for (name, src) in &config.sources {
        out.push(expected(
            format!("ingest drive {name}"),
            "ingest drive",
            Some(name),
            src.schedule.clone(),
        ));
    }
    for (table, ingestion) in SILVER {
        let schedule = match ingestion {
            None if kafka.is_none() => continue,
            None => kafka.clone(),
            Some(source) => match config.sources.get(*source) {
                Some(s) => s.schedule.clone(),
                None => continue,
            },
        };
        let command = format!("silver {table}");
        out.push(expected(command.clone(), &command, None, schedule));
    }
    for (step, configured) in [
        ("gold", &sch.gold),
        ("load", &sch.load),
        ("check", &sch.check),
    ] {
        let schedule = configured
            .clone()
            .unwrap_or_else(|| DEFAULT_WAREHOUSE.into());
        out.push(expected(step.into(), step, None, Some(schedule)));
    }
    out
}

/// Check every schedule of the configuration (at load and in `kvt status`).
pub fn validate(config: &Config) -> Result<(), String> {
    for e in expected_steps(config) {
        if let Some(s) = &e.schedule {
            parse_cron(s).map_err(|m| format!("schedule of `{}`: {m}", e.step))?;
        }
    }
    Ok(())
}

fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::Cron::from_str(expr).map_err(|e| format!("invalid cron expression `{expr}`: {e}"))
}

/// The last time at or before `now` that `expr` fired (UTC, minute
/// resolution), within the last 32 days.
pub fn previous_fire(expr: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    let cron = parse_cron(expr)?;
    let mut t = now
        .duration_trunc(Span::minutes(1))
        .map_err(|e| e.to_string())?;
    for _ in 0..LOOKBACK_DAYS * 24 * 60 {
        if cron.is_time_matching(&t).map_err(|e| e.to_string())? {
            return Ok(Some(t));
        }
        t -= Span::minutes(1);
    }
    Ok(None)
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// A run holds the lock now.
    Running,
    /// Ran since it was last due, and succeeded.
    Ok,
    /// Ran since it was last due; the last run exited 1 or 2.
    Failed,
    /// Due, not run yet, still within the grace period.
    Pending,
    /// Due and not run within the grace period.
    Late,
    /// No schedule: runs on demand.
    Unscheduled,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Ok => "ok",
            State::Failed => "failed",
            State::Pending => "pending",
            State::Late => "late",
            State::Unscheduled => "unscheduled",
        }
    }

    /// Needs an operator.
    pub fn is_problem(self) -> bool {
        matches!(self, State::Failed | State::Late)
    }
}

/// A lock found in the lake.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldLock {
    pub command: String,
    pub name: String,
    pub run_id: String,
    pub host: String,
    pub pid: u32,
    pub acquired_at: DateTime<Utc>,
    /// Older than the lock TTL (the next run takes it over).
    pub stale: bool,
}

impl HeldLock {
    pub fn new(
        command: String,
        name: String,
        info: LockInfo,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> HeldLock {
        let stale = now
            .signed_duration_since(info.acquired_at)
            .to_std()
            .map(|age| age > ttl)
            .unwrap_or(false);
        HeldLock {
            command,
            name,
            run_id: info.run_id,
            host: info.host,
            pid: info.pid,
            acquired_at: info.acquired_at,
            stale,
        }
    }
}

/// The last run of a step, as shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastRun {
    pub run_id: String,
    pub status: String,
    pub exit_code: u8,
    pub ended_at: DateTime<Utc>,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&RunRecord> for LastRun {
    fn from(r: &RunRecord) -> LastRun {
        LastRun {
            run_id: r.run_id.clone(),
            status: r.status.clone(),
            exit_code: r.exit_code,
            ended_at: r.ended_at,
            duration_ms: r.duration_ms,
            error: r.error.clone(),
        }
    }
}

/// One row of the status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepStatus {
    pub step: String,
    pub state: State,
    pub schedule: Option<String>,
    /// When it was last due.
    pub due: Option<DateTime<Utc>>,
    pub last_run: Option<LastRun>,
    /// Successful runs and failed runs in the history read.
    pub runs_ok: usize,
    pub runs_failed: usize,
    pub lock: Option<HeldLock>,
}

/// The whole answer of `kvt status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub now: DateTime<Utc>,
    pub steps: Vec<StepStatus>,
    /// Locks that belong to no expected step (fraud jobs, on-demand runs).
    pub other_locks: Vec<HeldLock>,
    /// A step is late or failed, or a lock is stale.
    pub attention: bool,
}

fn matches(e: &Expected, command: &str, name: &str) -> bool {
    e.command == command && e.name.as_deref().is_none_or(|n| n == name)
}

/// Judge every expected step, plus any other job found in the history
/// (shown as unscheduled), from the run records (oldest first) and locks.
pub fn judge(
    steps: &[Expected],
    records: &[RunRecord],
    locks: Vec<HeldLock>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Status {
    let mut rows: Vec<Expected> = steps.to_vec();
    let mut seen: BTreeMap<(String, String), ()> = BTreeMap::new();
    for r in records {
        if !rows.iter().any(|e| matches(e, &r.command, &r.name))
            && seen
                .insert((r.command.clone(), r.name.clone()), ())
                .is_none()
        {
            let step = if r.name.is_empty() {
                r.command.clone()
            } else {
                format!("{} {}", r.command, r.name)
            };
            rows.push(expected(step, &r.command, Some(&r.name), None));
        }
    }
    let mut locks = locks;
    let grace = Span::from_std(grace).unwrap_or(Span::hours(1));
    let steps: Vec<StepStatus> = rows
        .iter()
        .map(|e| {
            let mine: Vec<&RunRecord> = records
                .iter()
                .filter(|r| matches(e, &r.command, &r.name))
                .collect();
            let lock = locks
                .iter()
                .position(|l| matches(e, &l.command, &l.name))
                .map(|i| locks.remove(i));
            let due = e
                .schedule
                .as_deref()
                .and_then(|s| previous_fire(s, now).ok().flatten());
            let last = mine.last().copied();
            let since_due = last.filter(|r| due.is_none_or(|d| r.ended_at >= d));
            let state = if lock.as_ref().is_some_and(|l| !l.stale) {
                State::Running
            } else if let Some(r) = since_due.filter(|_| e.schedule.is_some()) {
                if r.exit_code == 0 {
                    State::Ok
                } else {
                    State::Failed
                }
            } else if e.schedule.is_none() {
                match last {
                    Some(r) if r.exit_code != 0 => State::Failed,
                    _ => State::Unscheduled,
                }
            } else {
                match due {
                    Some(d) if now < d + grace => State::Pending,
                    Some(_) => State::Late,
                    // Not due in the last 32 days (a yearly schedule).
                    None => State::Ok,
                }
            };
            StepStatus {
                step: e.step.clone(),
                state,
                schedule: e.schedule.clone(),
                due,
                last_run: last.map(LastRun::from),
                runs_ok: mine.iter().filter(|r| r.exit_code == 0).count(),
                runs_failed: mine.iter().filter(|r| r.exit_code != 0).count(),
                lock,
            }
        })
        .collect();
    let attention = steps.iter().any(|s| s.state.is_problem())
        || steps
            .iter()
            .filter_map(|s| s.lock.as_ref())
            .any(|l| l.stale)
        || locks.iter().any(|l| l.stale);
    Status {
        now,
        steps,
        other_locks: locks,
        attention,
    }
}

fn short_time(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%m-%d %H:%M").to_string()
    }
}

fn human_ms(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        _ => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
    }
}

fn lock_text(l: &HeldLock) -> String {
    format!(
        "{}held by pid {} on {} since {} (run {})",
        if l.stale { "STALE lock " } else { "" },
        l.pid,
        l.host,
        l.acquired_at.format("%Y-%m-%d %H:%M:%S"),
        l.run_id
    )
}

/// The table printed on a terminal.
pub fn render_table(s: &Status) -> String {
    let header = [
        "STEP",
        "STATE",
        "SCHEDULE",
        "DUE",
        "LAST RUN",
        "RESULT",
        "TOOK",
        "OK/FAILED",
    ];
    let mut rows: Vec<[String; 8]> = Vec::new();
    for st in &s.steps {
        let last = st.last_run.as_ref();
        rows.push([
            st.step.clone(),
            st.state.as_str().to_uppercase(),
            st.schedule.clone().unwrap_or_else(|| "-".into()),
            st.due
                .map(|d| short_time(d, s.now))
                .unwrap_or_else(|| "-".into()),
            last.map(|r| short_time(r.ended_at, s.now))
                .unwrap_or_else(|| "never".into()),
            last.map(|r| format!("{} (exit {})", r.status, r.exit_code))
                .unwrap_or_else(|| "-".into()),
            last.map(|r| human_ms(r.duration_ms))
                .unwrap_or_else(|| "-".into()),
            format!("{}/{}", st.runs_ok, st.runs_failed),
        ]);
    }
    let mut width = header.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = format!("kvt status at {} UTC\n\n", s.now.format("%Y-%m-%d %H:%M"));
    out.push_str(&line(&header.map(String::from)));
    for r in &rows {
        out.push_str(&line(r));
    }
    let mut notes = Vec::new();
    for st in &s.steps {
        if let Some(l) = &st.lock {
            notes.push(format!("lock  {}: {}", st.step, lock_text(l)));
        }
        if st.state == State::Failed {
            if let Some(e) = st.last_run.as_ref().and_then(|r| r.error.as_deref()) {
                notes.push(format!("error {}: {e}", st.step));
            }
        }
    }
    for l in &s.other_locks {
        let step = if l.name.is_empty() {
            l.command.clone()
        } else {
            format!("{} {}", l.command, l.name)
        };
        notes.push(format!("lock  {step}: {}", lock_text(l)));
    }
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    if s.attention {
        out.push_str("\nattention: a step is late or failed, or a lock is stale (exit 1)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn config() -> Config {
        let mut c = Config::default();
        let toml = r#"
            [sources.nginx]
            path = "drop/nginx"
            prefix = "nginx_data"
            schedule = "0 1 * * *"
            [sources.crm]
            path = "drop/crm"
            prefix = "crm_data"
            schedule = "0 6 * * 1"
        "#;
        let parsed: Config = toml::from_str(toml).unwrap();
        c.sources = parsed.sources;
        c
    }

    fn run(command: &str, name: &str, ended: &str, exit: u8) -> RunRecord {
        RunRecord {
            job: command.replace(' ', "_"),
            command: command.into(),
            name: name.into(),
            run_id: format!("r-{ended}"),
            status: ["ok", "rejected", "error"][exit as usize].into(),
            exit_code: exit,
            started_at: t(ended),
            ended_at: t(ended),
            duration_ms: 1500,
            host: "h".into(),
            error: (exit == 2).then(|| "boom".to_string()),
            summary: Map::new(),
        }
    }

    #[test]
    fn previous_fire_of_daily_weekly_and_every_four_hours() {
        let now = t("2026-03-18T06:45:30Z"); // a Wednesday
        assert_eq!(
            previous_fire("0 1 * * *", now).unwrap(),
            Some(t("2026-03-18T01:00:00Z"))
        );
        assert_eq!(
            previous_fire("0 6 * * 1", now).unwrap(),
            Some(t("2026-03-16T06:00:00Z"))
        );
        assert_eq!(
            previous_fire("0 */4 * * *", now).unwrap(),
            Some(t("2026-03-18T04:00:00Z"))
        );
        assert_eq!(
            previous_fire("45 6 * * *", now).unwrap(),
            Some(t("2026-03-18T06:45:00Z"))
        );
        assert!(previous_fire("61 * * * *", now).is_err());
    }

    #[test]
    fn expected_steps_follow_the_configuration() {
        let steps = expected_steps(&config());
        let names: Vec<&str> = steps.iter().map(|e| e.step.as_str()).collect();
        assert_eq!(
            names,
            [
                "ingest kafka",
                "ingest drive crm",
                "ingest drive nginx",
                "silver payments",
                "silver orders",
                "silver nginx",
                "silver crm",
                "gold",
                "load",
                "check"
            ]
        );
        let silver_crm = steps.iter().find(|e| e.step == "silver crm").unwrap();
        assert_eq!(silver_crm.schedule.as_deref(), Some("0 6 * * 1"));
        assert!(validate(&config()).is_ok());
        let mut no_kafka = config();
        no_kafka.schedule.kafka = Some(OFF.into());
        let steps = expected_steps(&no_kafka);
        assert!(steps
            .iter()
            .all(|e| !e.step.contains("kafka") && e.step != "silver orders"));
        let mut bad = config();
        bad.schedule.gold = Some("every night".into());
        assert!(validate(&bad).unwrap_err().contains("`gold`"));
    }

    #[test]
    fn states_ok_failed_pending_late_running() {
        let now = t("2026-03-18T06:45:00Z");
        let records = vec![
            run("ingest kafka", "kvt-bronze", "2026-03-18T00:01:00Z", 0),
            run("silver payments", "payments", "2026-03-18T00:02:00Z", 2),
            // Failed, then retried with success: ok.
            run("silver orders", "orders", "2026-03-18T00:02:00Z", 2),
            run("silver orders", "orders", "2026-03-18T00:07:00Z", 0),
            // Yesterday's run does not count for today.
            run("ingest drive", "nginx", "2026-03-17T01:00:05Z", 0),
            run("ingest drive", "crm", "2026-03-16T06:00:09Z", 0),
            run("kyc purge", "", "2026-03-18T04:15:00Z", 0),
        ];
        let locks = vec![HeldLock {
            command: "gold".into(),
            name: String::new(),
            run_id: "g1".into(),
            host: "h".into(),
            pid: 42,
            acquired_at: t("2026-03-18T06:30:00Z"),
            stale: false,
        }];
        let s = judge(
            &expected_steps(&config()),
            &records,
            locks,
            now,
            DEFAULT_GRACE,
        );
        let state = |step: &str| s.steps.iter().find(|x| x.step == step).unwrap().state;
        assert_eq!(state("ingest kafka"), State::Ok);
        assert_eq!(state("silver payments"), State::Failed);
        assert_eq!(state("silver orders"), State::Ok);
        assert_eq!(state("ingest drive nginx"), State::Late);
        assert_eq!(state("silver nginx"), State::Late);
        let crm = s
            .steps
            .iter()
            .find(|x| x.step == "ingest drive crm")
            .unwrap();
        assert_eq!(state("ingest drive crm"), State::Ok, "{crm:?}");
        assert_eq!(state("gold"), State::Running);
        assert_eq!(state("load"), State::Pending);
        assert_eq!(state("kyc purge"), State::Unscheduled);
        let orders = s.steps.iter().find(|x| x.step == "silver orders").unwrap();
        assert_eq!((orders.runs_ok, orders.runs_failed), (1, 1));
        assert!(s.attention);
        let table = render_table(&s);
        assert!(table.contains("silver payments"), "{table}");
        assert!(table.contains("lock  gold: held by pid 42"), "{table}");
        assert!(table.contains("error silver payments: boom"), "{table}");
        assert!(table.lines().all(|l| !l.ends_with(' ')));
    }

    #[test]
    fn all_done_needs_no_attention_and_stale_locks_do() {
        let now = t("2026-03-18T07:00:00Z");
        let records = vec![
            run("ingest kafka", "g", "2026-03-18T00:01:00Z", 0),
            run("silver payments", "payments", "2026-03-18T00:02:00Z", 0),
            run("silver orders", "orders", "2026-03-18T00:02:00Z", 0),
            run("gold", "", "2026-03-18T06:31:00Z", 0),
            run("load", "kvt", "2026-03-18T06:32:00Z", 0),
            run("check", "kvt", "2026-03-18T06:33:00Z", 0),
        ];
        let c = Config::default();
        let s = judge(&expected_steps(&c), &records, vec![], now, DEFAULT_GRACE);
        assert!(!s.attention, "{}", render_table(&s));
        let stale = HeldLock {
            command: "fraud run".into(),
            name: "payments".into(),
            run_id: "f".into(),
            host: "h".into(),
            pid: 1,
            acquired_at: t("2026-03-17T00:00:00Z"),
            stale: true,
        };
        let s = judge(
            &expected_steps(&c),
            &records,
            vec![stale],
            now,
            DEFAULT_GRACE,
        );
        assert!(s.attention);
        assert!(render_table(&s).contains("STALE lock"));
    }
}
