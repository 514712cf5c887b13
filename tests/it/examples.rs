//! Every runnable example in examples/ runs and says what it promises.

use std::process::Command;

#[test]
fn ingest_local_drop_example() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ingest-local-drop.sh");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_kvt"))
        .parent()
        .unwrap();
    let out = Command::new("bash")
        .arg(script)
        .env("KVT_BIN_DIR", bin)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    for l in lines {
        assert!(l.ends_with("0 moved on the second run"), "{l}");
        assert!(
            !l.contains(": 0 files landed"),
            "every source has files: {l}"
        );
    }
}
