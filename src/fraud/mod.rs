//! `kvt fraud run`: streaming fraud detection (issue 9, SPEC §3.12,
//! CONTRACTS C1–C4). All pure: `engine` (event-time watermarks, tumbling
//! and look-back windows), `event` (C1 messages or the reason they are dead
//! letters), `rules` (per-event rules with the C4 defaults, C3 alert ids),
//! the five jobs (`job`, `advanced`, `crossed`), `runner` (one `Job`,
//! checkpoints, archive records), `replay` (backtests) and `shard` (the
//! scale-out topology). `cmd::fraud` is the Kafka and store edge.

pub mod advanced;
pub mod aggregates;
pub mod crossed;
pub mod engine;
pub mod event;
pub mod job;
pub mod replay;
pub mod rules;
pub mod runner;
pub mod shard;
