//! Benchmark baseline (`make bench`): a bare librdkafka consumer — the same
//! rdkafka/librdkafka as kvt, same fetch settings — that reads topics from the
//! beginning to the end offsets seen at start and throws the messages away.
//!
//! `cargo run --release --example bare_consumer -- BROKERS TOPIC [TOPIC…]`
//! prints `{"messages":…,"bytes":…,"seconds":…}`.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (brokers, topics) = args
        .split_first()
        .ok_or("usage: bare_consumer BROKERS TOPIC…")?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("bare-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("queued.max.messages.kbytes", "65536")
        .create()?;
    let timeout = Duration::from_secs(10);
    let mut tpl = TopicPartitionList::new();
    let mut remaining = 0i64;
    for t in topics {
        let md = consumer.fetch_metadata(Some(t), timeout)?;
        for p in md.topics()[0].partitions() {
            let (low, high) = consumer.fetch_watermarks(t, p.id(), timeout)?;
            remaining += high - low;
            tpl.add_partition_offset(t, p.id(), Offset::Beginning)?;
        }
    }
    consumer.assign(&tpl)?;
    let start = Instant::now();
    let (mut n, mut bytes) = (0u64, 0u64);
    // Like kvt, wait patiently for a slow broker (up to 10 minutes of silence).
    let mut last = Instant::now();
    while remaining > 0 && last.elapsed() < Duration::from_secs(600) {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                n += 1;
                bytes += m.payload().map_or(0, <[u8]>::len) as u64;
                remaining -= 1;
                last = Instant::now();
            }
            Some(Err(e)) => eprintln!("{e}"),
            None => {}
        }
    }
    println!(
        "{{\"messages\":{n},\"bytes\":{bytes},\"seconds\":{:.3}}}",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
