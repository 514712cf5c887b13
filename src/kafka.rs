//! The one Kafka module: client configuration (brokers, security, extra
//! librdkafka properties, the SASL password from the environment), topic
//! administration, producer and consumer construction. `ingest kafka` and
//! `kvt-gen produce` use it; so will `fraud run` and `kyc verify`.
//!
//! kvt talks to any Kafka-protocol broker: Apache Kafka, Redpanda, or tansu
//! (the tests' and demo's broker). Security settings go in `kvt.toml`
//! `[kafka.client]` (`security.protocol`, `sasl.mechanisms`, `sasl.username`,
//! `ssl.ca.location`…); the password comes only from `KVT_KAFKA_SASL_PASSWORD`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context as _};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::{DefaultProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

/// Input topics of the streaming jobs (CONTRACTS C1, C2).
pub const INPUT_TOPICS: [&str; 3] = ["payments", "orders", "kyc_decisions"];

/// Alert topics (CONTRACTS C2, C3).
pub const ALERT_TOPICS: [&str; 6] = [
    "alerts_fraud_payments",
    "alerts_psp_payments",
    "alerts_orders",
    "alerts_advanced_fraud",
    "alerts_fraud_crossed",
    "alerts_kyc",
];

/// The dead-letter topic (CONTRACTS C1).
pub const DEAD_LETTERS: &str = "kvt_dead_letters";

/// Partitions and retention of kvt's topics (CONTRACTS C2).
pub const PARTITIONS: i32 = 6;
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Every topic of CONTRACTS C2.
pub fn all_topics() -> Vec<&'static str> {
    INPUT_TOPICS
        .iter()
        .chain(&ALERT_TOPICS)
        .copied()
        .chain([DEAD_LETTERS])
        .collect()
}

/// How to reach the cluster.
#[derive(Clone, Default)]
pub struct ClientSettings {
    /// Bootstrap servers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Extra librdkafka properties (`kvt.toml` `[kafka.client]`).
    pub properties: BTreeMap<String, String>,
}

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Properties may hold credentials someone put in the file by mistake.
        let shown: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let secret = k.contains("password") || k.contains("secret") || k.contains("key");
                (k.as_str(), if secret { "[redacted]" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("ClientSettings")
            .field("brokers", &self.brokers)
            .field("properties", &shown)
            .finish()
    }
}

impl ClientSettings {
    pub fn new(brokers: impl Into<String>) -> ClientSettings {
        ClientSettings {
            brokers: brokers.into(),
            properties: BTreeMap::new(),
        }
    }

    /// The OpenLineage namespace of the cluster: its first bootstrap server.
    pub fn namespace(&self) -> String {
        format!(
            "kafka://{}",
            self.brokers.split(',').next().unwrap_or_default().trim()
        )
    }

    /// A librdkafka configuration: bootstrap servers and `client.id`, then
    /// `role` (what the client needs), then the operator's properties (which
    /// win), then the SASL password from the environment.
    pub fn config(&self, client_id: &str, role: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", client_id);
        for (k, v) in role {
            c.set(*k, *v);
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        if let Some(p) = crate::env::get(crate::env::KAFKA_SASL_PASSWORD) {
            c.set("sasl.password", p);
        }
        c
    }

    /// A consumer of `group` that never commits on its own: offsets are
    /// committed by the caller once what it read is durable.
    pub fn consumer(&self, client_id: &str, group: &str) -> anyhow::Result<BaseConsumer> {
        self.consumer_waiting(client_id, group, "500")
    }

    /// A consumer like [`Self::consumer`] whose fetches return after at most
    /// 10 ms without data (librdkafka waits 500 ms by default; some brokers
    /// hold a fetch that long even when data arrives): for streaming jobs,
    /// where that wait is alert latency.
    pub fn streaming_consumer(&self, client_id: &str, group: &str) -> anyhow::Result<BaseConsumer> {
        self.consumer_waiting(client_id, group, "10")
    }

    fn consumer_waiting(
        &self,
        client_id: &str,
        group: &str,
        fetch_wait_ms: &str,
    ) -> anyhow::Result<BaseConsumer> {
        self.consumer_config(client_id, group, fetch_wait_ms, &[])
            .create()
            .with_context(|| format!("cannot create a Kafka consumer for {}", self.brokers))
    }

    fn consumer_config(
        &self,
        client_id: &str,
        group: &str,
        fetch_wait_ms: &str,
        extra: &[(&str, &str)],
    ) -> ClientConfig {
        let mut role = vec![
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("fetch.max.bytes", "52428800"),
            ("queued.max.messages.kbytes", "65536"),
            ("fetch.wait.max.ms", fetch_wait_ms),
        ];
        role.extend_from_slice(extra);
        self.config(client_id, &role)
    }

    /// A streaming consumer that joins its group (`subscribe`) and sees
    /// rebalances through `context`; a member that stops heartbeating is
    /// replaced after 6 s (overridable in `[kafka.client]`).
    pub fn group_consumer<C: rdkafka::consumer::ConsumerContext>(
        &self,
        client_id: &str,
        group: &str,
        context: C,
    ) -> anyhow::Result<BaseConsumer<C>> {
        self.consumer_config(
            client_id,
            group,
            "10",
            &[
                ("session.timeout.ms", "6000"),
                ("heartbeat.interval.ms", "1000"),
                ("partition.assignment.strategy", "range"),
            ],
        )
        .create_with_context(context)
        .with_context(|| format!("cannot create a Kafka consumer for {}", self.brokers))
    }

    /// An idempotent producer (no duplicates on retries), batched.
    pub fn producer(
        &self,
        client_id: &str,
    ) -> anyhow::Result<ThreadedProducer<DefaultProducerContext>> {
        self.producer_with(client_id, "20", "60000", DefaultProducerContext)
    }

    /// An idempotent producer with `context` (to see delivery reports),
    /// `linger.ms` and `message.timeout.ms` (`0`: retry forever).
    pub fn producer_with<C: rdkafka::producer::ProducerContext>(
        &self,
        client_id: &str,
        linger_ms: &str,
        timeout_ms: &str,
        context: C,
    ) -> anyhow::Result<ThreadedProducer<C>> {
        self.config(
            client_id,
            &[
                ("enable.idempotence", "true"),
                ("compression.type", "lz4"),
                ("linger.ms", linger_ms),
                ("batch.num.messages", "10000"),
                ("queue.buffering.max.messages", "200000"),
                ("message.timeout.ms", timeout_ms),
            ],
        )
        .create_with_context(context)
        .with_context(|| format!("cannot create a Kafka producer for {}", self.brokers))
    }

    /// Create topics with `partitions` partitions and `retention`; topics that
    /// already exist are left as they are. Returns the names created.
    pub fn create_topics(
        &self,
        names: &[String],
        partitions: i32,
        retention: Duration,
    ) -> anyhow::Result<Vec<String>> {
        let admin: AdminClient<DefaultClientContext> = self
            .config("kvt-admin", &[])
            .create()
            .with_context(|| format!("creating a Kafka admin client for {}", self.brokers))?;
        let retention_ms = retention.as_millis().to_string();
        let topics: Vec<NewTopic<'_>> = names
            .iter()
            .map(|n| {
                NewTopic::new(n, partitions, TopicReplication::Fixed(1))
                    .set("retention.ms", &retention_ms)
            })
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = rt
            .block_on(admin.create_topics(topics.iter(), &opts))
            .with_context(|| format!("creating topics on {}", self.brokers))?;
        let mut created = Vec::new();
        for r in results {
            match r {
                Ok(name) => created.push(name),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, e)) => bail!("creating topic `{name}` on {}: {e}", self.brokers),
            }
        }
        Ok(created)
    }
}

/// The partitions of `topic`, or why it cannot be read (named with the
/// broker and the topic).
pub fn partitions<X: rdkafka::consumer::ConsumerContext, C: rdkafka::consumer::Consumer<X>>(
    consumer: &C,
    brokers: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, String> {
    let md = consumer.fetch_metadata(Some(topic), timeout).map_err(|e| {
        format!(
            "cannot reach Kafka broker(s) {brokers} for topic `{topic}` within {timeout:?}: {e}"
        )
    })?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Err(format!("topic `{topic}` not found on {brokers}"));
    };
    if let Some(err) = t.error() {
        let what = match RDKafkaErrorCode::from(err) {
            RDKafkaErrorCode::UnknownTopicOrPartition => "does not exist".to_string(),
            RDKafkaErrorCode::TopicAuthorizationFailed => {
                "is not readable: authorization failed".to_string()
            }
            other => format!("is unavailable: {other}"),
        };
        return Err(format!("topic `{topic}` on {brokers} {what}"));
    }
    if t.partitions().is_empty() {
        return Err(format!(
            "topic `{topic}` on {brokers} does not exist (no partitions)"
        ));
    }
    Ok(t.partitions().iter().map(|p| p.id()).collect())
}

/// A Kafka topic name (letters, digits, `.`, `_`, `-`; at most 249 bytes).
pub fn check_topic(t: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !t.is_empty()
            && t.len() <= 249
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
        "invalid topic name `{t}` (Kafka topics use letters, digits, `.`, `_` and `-`)"
    );
    Ok(())
}

/// The high watermark of a partition as librdkafka last saw it (from fetch
/// responses: no request, never blocks); `None` until it has seen one.
pub fn cached_high_watermark<C: rdkafka::consumer::ConsumerContext>(
    consumer: &rdkafka::consumer::BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    use rdkafka::consumer::Consumer as _;
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid for the consumer's lifetime; the
    // topic is a NUL-terminated string that outlives the call; librdkafka
    // only writes the two out-parameters.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some(high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_properties_win_and_secrets_stay_out_of_debug() {
        let mut s = ClientSettings::new("k1:9092,k2:9092");
        s.properties
            .insert("security.protocol".into(), "SASL_SSL".into());
        s.properties
            .insert("sasl.password".into(), "hunter2".into());
        s.properties.insert("linger.ms".into(), "5".into());
        let c = s.config("x", &[("linger.ms", "20"), ("acks", "all")]);
        assert_eq!(c.get("linger.ms"), Some("5"));
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.namespace(), "kafka://k1:9092");
    }

    #[test]
    fn topics() {
        assert_eq!(all_topics().len(), 10);
        assert!(check_topic("prod.payments-v2").is_ok());
        assert!(check_topic("a b").is_err());
        assert!(check_topic("").is_err());
    }
}
