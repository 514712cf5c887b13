//! The one integration-test binary: the real `kvt` and `kvt-gen` binaries on
//! temp dirs, against real services started by `common::services`.

mod common;

mod contract;
mod examples;
mod fraud;
mod fraud_live;
mod fraud_shard;
mod gen;
mod gold;
mod hardening;
mod ingest_drive;
mod ingest_kafka;
mod kyc;
mod ops;
mod silver_crm;
mod silver_events;
mod silver_firebase;
mod silver_kyc;
mod silver_logistics;
mod silver_nginx;
mod silver_privacy;
mod store;
mod warehouse;
