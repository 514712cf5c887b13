//! `kvt fraud run`: streaming fraud detection (issue 9, SPEC §3.12,
//! CONTRACTS C1–C4). Pure parts so far: `engine` (event-time watermarks,
//! tumbling and look-back windows), `event` (C1 messages or the reason they
//! are dead letters), `rules` (per-event rules with the C4 defaults, C3
//! alert ids). The Kafka loop, checkpoints and windowed rules build on them.

pub mod advanced;
pub mod aggregates;
pub mod crossed;
pub mod engine;
pub mod event;
pub mod job;
pub mod replay;
pub mod rules;
pub mod runner;
