//! Deterministic synthetic data generator (see `kvt-gen --help`).
