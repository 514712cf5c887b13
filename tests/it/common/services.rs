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

// ------------------------------------------------------------- InfluxDB

/// A private InfluxDB 1.x (Debian's `influxdb` package) on 127.0.0.1.
pub struct Influx {
    pub url: String,
}

impl Influx {
    /// Runs an InfluxQL statement (`/query`), returning the JSON answer.
    pub fn query(&self, db: &str, q: &str) -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "20", "-G"])
            .arg(format!("{}/query", self.url))
            .args(["--data-urlencode", &format!("db={db}")])
            .args(["--data-urlencode", &format!("q={q}")])
            .output()
            .expect("curl");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "InfluxDB answered {:?}: {e}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Creates a database (one per test).
    pub fn create_database(&self, db: &str) {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "20", "-XPOST"])
            .arg(format!("{}/query", self.url))
            .args(["--data-urlencode", &format!("q=CREATE DATABASE \"{db}\"")])
            .output()
            .expect("curl");
        assert!(out.status.success(), "{out:?}");
    }
}

static INFLUX: OnceLock<Option<Influx>> = OnceLock::new();

/// The InfluxDB of the test run, or `None` (skip) outside CI when `influxd`
/// is not installed.
pub fn influx() -> Option<&'static Influx> {
    INFLUX
        .get_or_init(|| match start_influx() {
            Ok(s) => Some(s),
            Err(e) if in_ci() => panic!("InfluxDB unavailable in CI: {e}"),
            Err(e) => {
                eprintln!("SKIP: InfluxDB unavailable ({e}); `make test` installs it");
                None
            }
        })
        .as_ref()
}

fn start_influx() -> Result<Influx, String> {
    let bin = tool("influxd").ok_or("influxd not found on PATH (Debian package influxdb)")?;
    let root = std::env::temp_dir().join(format!("kvt-influx-{}", std::process::id()));
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let (port, rpc) = (free_port(), free_port());
    let conf = root.join("influxdb.conf");
    std::fs::write(
        &conf,
        format!(
            "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
             [meta]\n  dir = \"{r}/meta\"\n\
             [data]\n  dir = \"{r}/data\"\n  wal-dir = \"{r}/wal\"\n  query-log-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n\
             [monitor]\n  store-enabled = false\n",
            r = root.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.arg("-config")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join("influxd.log")).map_err(|e| e.to_string())?);
    spawn_owned(cmd).map_err(|e| format!("cannot start influxd: {e}"))?;
    if !wait_for_port(port, Duration::from_secs(30)) {
        return Err(format!(
            "influxd did not listen on 127.0.0.1:{port} within 30 s"
        ));
    }
    Ok(Influx {
        url: format!("http://127.0.0.1:{port}"),
    })
}

// ------------------------------------------------------------- PostgreSQL

/// A private PostgreSQL cluster (Debian's server binaries) on 127.0.0.1,
/// shared by the test run and killed with it.
pub struct Postgres {
    pub port: u16,
    user: String,
    bin: PathBuf,
    /// uid/gid the server runs as (the `postgres` user when tests run as root).
    ids: Option<(u32, u32)>,
}

static POSTGRES: OnceLock<Option<Postgres>> = OnceLock::new();

fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// A command that runs as `ids` (PostgreSQL refuses to run as root).
fn as_user(mut cmd: Command, ids: Option<(u32, u32)>, die_with_us: bool) -> Command {
    use std::os::unix::process::CommandExt;
    unsafe {
        cmd.pre_exec(move || {
            // Credentials first: changing them clears the parent-death signal.
            if let Some((uid, gid)) = ids {
                if libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if die_with_us {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            }
            Ok(())
        });
    }
    cmd
}

impl Postgres {
    fn start() -> Result<Postgres, String> {
        let bin = pg_bin()
            .ok_or("no PostgreSQL server in /usr/lib/postgresql (apt install postgresql)")?;
        let root = unsafe { libc::geteuid() } == 0;
        let ids = if root {
            let name = std::ffi::CString::new("postgres").unwrap();
            let pw = unsafe { libc::getpwnam(name.as_ptr()) };
            if pw.is_null() {
                return Err("running as root and there is no `postgres` user".into());
            }
            Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
        } else {
            None
        };
        let user = if root {
            "postgres".to_string()
        } else {
            std::env::var("USER").unwrap_or_else(|_| "postgres".into())
        };
        let dir = std::env::temp_dir().join(format!("kvt-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        if let Some((uid, gid)) = ids {
            let c = std::ffi::CString::new(dir.to_string_lossy().as_bytes()).unwrap();
            unsafe { libc::chown(c.as_ptr(), uid, gid) };
        }
        let data = dir.join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["-D"])
            .arg(&data)
            .args(["-U", &user, "--auth=trust", "-E", "UTF8", "--locale=C"])
            .current_dir("/")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = as_user(initdb, ids, false)
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let port = free_port();
        let log = std::fs::File::create(dir.join("postgres.log")).map_err(|e| e.to_string())?;
        if let Some((uid, gid)) = ids {
            let c = std::ffi::CString::new(dir.join("postgres.log").to_string_lossy().as_bytes())
                .unwrap();
            unsafe { libc::chown(c.as_ptr(), uid, gid) };
        }
        let mut server = Command::new(bin.join("postgres"));
        server
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=100",
            ])
            .current_dir("/")
            .stdout(Stdio::null())
            .stderr(log);
        let server = as_user(server, ids, true);
        let (tx, rx) = std::sync::mpsc::channel();
        let mut server = server;
        std::thread::spawn(move || match server.spawn() {
            Ok(mut c) => {
                let _ = tx.send(Ok(()));
                let _ = c.wait();
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
            }
        });
        rx.recv().map_err(|e| e.to_string())??;
        if !wait_for_port(port, Duration::from_secs(30)) {
            let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
            return Err(format!(
                "PostgreSQL did not listen on {port} within 30 s:\n{log}"
            ));
        }
        Ok(Postgres {
            port,
            user,
            bin,
            ids,
        })
    }

    /// A new empty database of its own; its URL.
    pub fn database(&self, name: &str) -> String {
        let db = format!(
            "{name}_{}",
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut c = Command::new(self.bin.join("createdb"));
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            &self.user,
            &db,
        ])
        .current_dir("/");
        let out = as_user(c, self.ids, false).output().unwrap();
        assert!(
            out.status.success(),
            "createdb {db}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(&db)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://{}@127.0.0.1:{}/{db}", self.user, self.port)
    }

    /// Run SQL with psql; its output (tuples only, `|`-separated).
    pub fn psql(&self, url: &str, sql: &str) -> String {
        let mut c = Command::new(self.bin.join("psql"));
        c.args([
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            url,
            "-c",
            sql,
        ])
        .current_dir("/");
        let out = as_user(c, self.ids, false).output().unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// The PostgreSQL cluster of the test run, or `None` (skip) outside CI when
/// it cannot start; in CI a failure.
pub fn postgres() -> Option<&'static Postgres> {
    POSTGRES
        .get_or_init(|| match Postgres::start() {
            Ok(p) => Some(p),
            Err(e) if in_ci() => panic!("PostgreSQL unavailable in CI: {e}"),
            Err(e) => {
                eprintln!("SKIP: PostgreSQL unavailable ({e}); `make test` installs it");
                None
            }
        })
        .as_ref()
}
