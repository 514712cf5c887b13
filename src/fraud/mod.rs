//! `kvt fraud run`: streaming fraud detection (issue 9, SPEC §3.12,
//! CONTRACTS C1–C4). `engine` holds the pure event-time machinery
//! (watermarks, tumbling and look-back windows); the rules and the Kafka
//! loop build on it.

pub mod engine;
