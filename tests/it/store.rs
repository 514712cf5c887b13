//! The store against a real S3-API server (s3s-fs on loopback).

use bytes::Bytes;
use kvt::store::{Key, Metadata, Store};

use crate::common::services;

#[test]
fn s3_store_put_get_list_head_multipart_create() {
    let Some(s3) = services::s3() else { return };
    let bucket = s3.bucket("store-ops");
    for (k, v) in s3.env() {
        std::env::set_var(k, v);
    }
    crate::common::block_on(async {
        let store = Store::open(&format!("s3://{bucket}/root/prefix")).unwrap();
        assert_eq!(store.url(), format!("s3://{bucket}/root/prefix"));
        let mut meta = Metadata::new();
        meta.insert("kvt-source".into(), "crm".into());
        let k = Key::new("bronze/crm/a.csv");
        store
            .put(&k, Bytes::from_static(b"abc"), &meta)
            .await
            .unwrap();
        assert_eq!(store.get(&k).await.unwrap(), Bytes::from_static(b"abc"));
        let (size, m) = store.head(&k).await.unwrap().unwrap();
        assert_eq!(size, 3);
        assert_eq!(m.get("kvt-source").map(String::as_str), Some("crm"));

        // A streamed upload larger than one part: multipart, visible only at the end.
        let big = Key::new("bronze/crm/big.bin");
        let mut up = store.upload(&big, &meta);
        let chunk = Bytes::from(vec![1u8; 4 * 1024 * 1024]);
        for _ in 0..5 {
            up.write(chunk.clone()).await.unwrap();
        }
        assert!(
            store.head(&big).await.unwrap().is_none(),
            "visible before completion"
        );
        up.finish().await.unwrap();
        assert_eq!(store.head(&big).await.unwrap().unwrap().0, 20 * 1024 * 1024);
        assert_eq!(store.sha256(&big).await.unwrap().0, 20 * 1024 * 1024);

        // An aborted one leaves nothing.
        let gone = Key::new("bronze/crm/gone.bin");
        let mut up = store.upload(&gone, &meta);
        for _ in 0..3 {
            up.write(chunk.clone()).await.unwrap();
        }
        up.abort().await;
        assert!(store.head(&gone).await.unwrap().is_none());

        let keys: Vec<String> = store
            .list(&Key::new("bronze"))
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key.to_string())
            .collect();
        assert_eq!(keys, ["bronze/crm/a.csv", "bronze/crm/big.bin"]);

        // Conditional create (run locks).
        let lock = Key::new("_locks/x.lock");
        assert!(store.create(&lock, Bytes::from_static(b"1")).await.unwrap());
        assert!(!store.create(&lock, Bytes::from_static(b"2")).await.unwrap());
        store.delete(&lock).await.unwrap();
        assert!(store.create(&lock, Bytes::from_static(b"3")).await.unwrap());
    });
}
