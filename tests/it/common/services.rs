//! Real services for the tests, started once per test run on loopback.
//!
//! In CI (`CI=true`) a service that cannot start is a test failure; on a
//! developer machine without it the test is skipped with a message.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::in_ci;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Find a tool installed by the Makefile (`$KVT_TOOLS_DIR/bin`, else
/// target/tools/bin) or on PATH.
pub fn tool(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("KVT_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tools"));
    let local = dir.join("bin").join(name);
    if local.exists() {
        return Some(local);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.exists())
    })
}

/// Start a child process that dies with the test binary.
///
/// The child is spawned from a thread that lives as long as the process, so
/// `PR_SET_PDEATHSIG` (tied to the spawning thread) fires only at exit.
pub fn spawn_owned(mut cmd: Command) -> std::io::Result<u32> {
    use std::os::unix::process::CommandExt;
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let child: std::io::Result<Child> = cmd.spawn();
        match child {
            Ok(mut c) => {
                let _ = tx.send(Ok(c.id()));
                let _ = c.wait();
                // Keep this thread alive: its exit would kill nothing now, but be explicit.
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        }
    });
    rx.recv().unwrap()
}

/// Wait until something accepts TCP connections on the port.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The S3-API server (s3s-fs) of this test run.
pub struct S3 {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub root: PathBuf,
}

impl S3 {
    /// Create a bucket (a directory of the s3s-fs root) for one test.
    pub fn bucket(&self, name: &str) -> String {
        std::fs::create_dir_all(self.root.join(name)).unwrap();
        name.to_string()
    }

    /// Environment a kvt process needs to use this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

static S3_SERVER: OnceLock<Option<S3>> = OnceLock::new();

/// The S3 server, or `None` (skip) outside CI when s3s-fs is not installed.
pub fn s3() -> Option<&'static S3> {
    S3_SERVER
        .get_or_init(|| match start_s3() {
            Ok(s) => Some(s),
            Err(e) if in_ci() => panic!("S3 test server unavailable in CI: {e}"),
            Err(e) => {
                eprintln!("SKIP: S3 test server unavailable ({e}); `make test` installs it");
                None
            }
        })
        .as_ref()
}

fn start_s3() -> Result<S3, String> {
    let bin = tool("s3s-fs").ok_or("s3s-fs not found in target/tools/bin or PATH")?;
    let root = std::env::temp_dir().join(format!("kvt-s3-{}", std::process::id()));
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let port = free_port();
    let (ak, sk) = ("kvt-test-access", "kvt-test-secret-key");
    let mut cmd = Command::new(bin);
    cmd.args([
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--access-key",
        ak,
        "--secret-key",
        sk,
    ])
    .arg(&root)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    spawn_owned(cmd).map_err(|e| format!("cannot start s3s-fs: {e}"))?;
    if !wait_for_port(port, Duration::from_secs(20)) {
        return Err(format!(
            "s3s-fs did not listen on 127.0.0.1:{port} within 20 s"
        ));
    }
    Ok(S3 {
        endpoint: format!("http://127.0.0.1:{port}"),
        access_key: ak.into(),
        secret_key: sk.into(),
        root,
    })
}

/// A Kafka-protocol broker (tansu, SQLite storage) on 127.0.0.1.
pub struct Broker {
    pub addr: String,
    port: u16,
    dir: PathBuf,
    child: std::sync::Mutex<Option<Child>>,
}

impl Broker {
    /// Start a broker of its own (for tests that stop and restart it).
    pub fn start_private() -> Result<Broker, String> {
        let dir = std::env::temp_dir().join(format!(
            "kvt-tansu-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let port = free_port();
        let b = Broker {
            addr: format!("127.0.0.1:{port}"),
            port,
            dir,
            child: std::sync::Mutex::new(None),
        };
        b.start()?;
        Ok(b)
    }

    /// (Re)start the broker process on the same port and data.
    pub fn start(&self) -> Result<(), String> {
        let bin = tool("tansu").ok_or("tansu not found in target/tools/bin or PATH")?;
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut cmd = Command::new(bin);
        // tansu resolves sqlite:// paths under its working directory.
        cmd.current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("tansu.log")).map_err(|e| e.to_string())?);
        use std::os::unix::process::CommandExt;
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start tansu: {e}"))?;
        *self.child.lock().unwrap() = Some(child);
        if !wait_for_port(self.port, Duration::from_secs(30)) {
            return Err(format!("tansu did not listen on {} within 30 s", self.addr));
        }
        Ok(())
    }

    /// What the broker wrote on stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("tansu.log")).unwrap_or_default()
    }

    /// Kill the broker (SIGKILL), keeping its data.
    pub fn stop(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static BROKER: OnceLock<Option<SharedBroker>> = OnceLock::new();

/// The shared broker of the test run.
pub struct SharedBroker {
    pub addr: String,
}

/// The broker shared by the tests, or `None` (skip) outside CI when tansu is missing.
pub fn broker() -> Option<&'static SharedBroker> {
    BROKER
        .get_or_init(|| {
            // Started from a thread that outlives every test: PDEATHSIG is tied
            // to the spawning thread, so the broker dies with the test binary only.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || match Broker::start_private() {
                Ok(b) => {
                    let _ = tx.send(Ok(b.addr.clone()));
                    let _keep = b;
                    loop {
                        std::thread::park();
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            });
            match rx
                .recv()
                .unwrap_or_else(|_| Err("broker thread died".into()))
            {
                Ok(addr) => Some(SharedBroker { addr }),
                Err(e) if in_ci() => panic!("Kafka test broker (tansu) unavailable in CI: {e}"),
                Err(e) => {
                    eprintln!(
                        "SKIP: Kafka test broker unavailable ({e}); `make test` installs tansu"
                    );
                    None
                }
            }
        })
        .as_ref()
}

/// A topic prefix no other test uses (tansu cannot delete single topics).
pub fn unique_prefix(name: &str) -> String {
    format!(
        "it-{}-{}-{name}-",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}
