//! The one integration-test binary: the real `kvt` and `kvt-gen` binaries on
//! temp dirs, against real services started by `common::services`.

mod common;

mod contract;
mod examples;
mod gen;
mod ingest_drive;
mod ingest_kafka;
mod silver_nginx;
mod store;
