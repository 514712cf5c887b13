//! `kvt silver nginx`: generated logs against the ground truth, and the access
//! log of a real nginx (Debian package) on loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::services::{free_port, wait_for_port};
use crate::common::silver::{copy_dir, testdata};
use crate::common::{files_under, in_ci, run_expect, Env};

const NGINX_CONFIG: &str = "[sources.nginx]\npath = \"drop/nginx_data\"\nprefix = \"nginx_data\"\n";

fn silver(env: &Env) -> std::process::Command {
    let mut c = env.kvt();
    c.args(["silver", "nginx", "--dev-key"]);
    c
}

fn read_table(env: &Env, path: &str) -> polars::prelude::DataFrame {
    crate::common::block_on(async {
        let store = kvt::store::Store::open(&format!("file://{}", env.lake().display())).unwrap();
        kvt::table::read_partition(&store, kvt::table::Zone::Silver, path)
            .await
            .unwrap()
            .expect("partition")
    })
}

#[test]
fn silver_nginx_counts_equal_the_ground_truth() {
    let env = Env::new();
    env.write("kvt.toml", NGINX_CONFIG);
    copy_dir(
        &testdata().join("nginx_data"),
        &env.path().join("drop/nginx_data"),
    );
    run_expect(env.kvt().args(["ingest", "drive", "nginx"]), 0);
    let s = run_expect(&mut silver(&env), 0).summary();
    let truth: Value =
        serde_json::from_slice(&std::fs::read(testdata().join("ground_truth.json")).unwrap())
            .unwrap();
    let day = &truth["nginx"]["days"][0];
    assert_eq!(s["rows_in"], day["lines"], "{s}");
    assert_eq!(s["rows_out"], day["valid_lines"]);
    assert_eq!(s["rejected"], day["discarded_lines"]);
    assert_eq!(s["flagged"], day["nul_lines"]);
    assert_eq!(s["partitions_written"], 1);

    let date = day["date"].as_str().unwrap();
    let df = read_table(&env, &format!("nginx/log_date={date}"));
    assert_eq!(df.height() as u64, day["valid_lines"].as_u64().unwrap());
    let bots = df
        .column("is_bot")
        .unwrap()
        .bool()
        .unwrap()
        .sum()
        .unwrap_or(0);
    assert_eq!(bots as u64, day["bot_user_agent_lines"].as_u64().unwrap());
    // Rejects: one line each, with bronze location and reason, no content.
    let rejects = files_under(&env.lake().join("silver/_rejects/nginx"));
    assert_eq!(rejects.len(), 1);
    let text = std::fs::read_to_string(env.lake().join("silver/_rejects/nginx").join(&rejects[0]))
        .unwrap();
    assert_eq!(
        text.lines().count() as u64,
        day["discarded_lines"].as_u64().unwrap()
    );
    let r: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(r["bronze_key"]
        .as_str()
        .unwrap()
        .starts_with("bronze/nginx_data/"));
    assert!(r["line"].as_u64().unwrap() > 0);
    assert_eq!(
        r.as_object().unwrap().len(),
        4,
        "only location, field and reason: {r}"
    );

    // Same input, same files: a second run reads nothing; a full refresh rewrites the same bytes.
    let before = snapshot(&env.lake().join("silver/nginx"));
    let s = run_expect(&mut silver(&env), 0).summary();
    assert_eq!(s["objects_read"], 0);
    run_expect(silver(&env).arg("--full-refresh"), 0);
    assert_eq!(
        snapshot(&env.lake().join("silver/nginx")),
        before,
        "full refresh changed the files"
    );
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|f| {
            let b = std::fs::read(dir.join(&f)).unwrap();
            (f, b)
        })
        .collect()
}

#[test]
fn silver_nginx_above_tolerance_writes_valid_rows_and_exits_1() {
    let env = Env::new();
    env.write("kvt.toml", NGINX_CONFIG);
    let good = r#"10.0.0.1 - - [17/Mar/2026:10:00:00 +0100] "GET / HTTP/1.1" 200 10 "-" "Mozilla/5.0" 0.001"#;
    let mut text = String::new();
    for i in 0..90 {
        text.push_str(&good.replace("10.0.0.1", &format!("10.0.0.{i}")));
        text.push('\n');
    }
    for _ in 0..10 {
        text.push_str(&good[..40]);
        text.push('\n');
    }
    env.write("drop/nginx_data/access-2026-03-17.log", text);
    run_expect(env.kvt().args(["ingest", "drive", "nginx"]), 0);
    let s = run_expect(&mut silver(&env), 1).summary();
    assert_eq!(s["status"], "rejected");
    assert_eq!(s["rows_out"], 90);
    assert_eq!(s["rejected"], 10);
    assert!(s["error"].as_str().unwrap().contains("10.00 %"), "{s}");
    assert_eq!(read_table(&env, "nginx/log_date=2026-03-17").height(), 90);
}

#[test]
fn silver_nginx_refuses_to_run_without_a_pseudonymisation_key() {
    let env = Env::new();
    env.write("kvt.toml", NGINX_CONFIG);
    let s = run_expect(env.kvt().args(["silver", "nginx"]), 2).summary();
    assert!(
        s["error"].as_str().unwrap().contains("KVT_PSEUDONYM_KEY"),
        "{s}"
    );
    assert!(!env.lake().join("silver").exists());
}

// ---------------------------------------------------------------- real nginx

struct Nginx {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Nginx {
    /// Graceful stop (SIGQUIT): pending requests finish and are logged.
    /// Returns the access log's path.
    fn stop(mut self) -> PathBuf {
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGQUIT);
        }
        for _ in 0..100 {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.log.clone()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nginx(dir: &Path) -> Option<Nginx> {
    let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    let Some(bin) = bin else {
        assert!(
            !in_ci(),
            "nginx (Debian package nginx-light) is not installed; `make test` installs it"
        );
        eprintln!("SKIP: nginx not installed");
        return None;
    };
    let port = free_port();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let d = dir.display();
    let conf = format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
  map $http_x_customer $kvt_customer {{ default $http_x_customer; "" "-"; }}
  log_format kvt '$remote_addr - $kvt_customer [$time_local] "$request" $status '
                 '$body_bytes_sent "$http_referer" "$http_user_agent" $request_time';
  access_log {d}/access.log kvt;
  client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fcgi; uwsgi_temp_path {d}/tmp/uwsgi; scgi_temp_path {d}/tmp/scgi;
  server {{
    listen 127.0.0.1:{port};
    location = / {{ return 200 "home\n"; }}
    location /produit/ {{ return 200 "produit\n"; }}
    location /ancien {{ return 301 /; }}
    location /boom {{ return 502; }}
    location / {{ return 404; }}
  }}
}}
"#
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(bin)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    assert!(
        wait_for_port(port, Duration::from_secs(10)),
        "nginx did not listen"
    );
    Some(Nginx {
        child,
        port,
        log: dir.join("access.log"),
    })
}

/// Send raw bytes, read the answer's status line.
fn raw(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn get(port: u16, path: &str, customer: Option<&str>, ua: &str) -> String {
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: kivendtout.test\r\nUser-Agent: {ua}\r\nConnection: close\r\n"
    );
    if let Some(c) = customer {
        req.push_str(&format!("X-Customer: {c}\r\n"));
    }
    req.push_str("\r\n");
    raw(port, req.as_bytes())
}

#[test]
fn silver_nginx_parses_a_real_nginx_access_log() {
    let env = Env::new();
    let Some(ngx) = start_nginx(&env.path().join("nginx")) else {
        return;
    };
    let p = ngx.port;
    let browser = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0";
    let mut sent = 0;
    let mut expect_status = Vec::new();
    for (path, cust, ua, status) in [
        ("/", Some("CUST-000123"), browser, 200),
        (
            "/produit/PRD-00042?ref=home&email=jean.dupont@example.com",
            Some("CUST-000123"),
            browser,
            200,
        ),
        ("/ancien", None, browser, 301),
        ("/nulle-part", None, browser, 404),
        ("/boom", None, browser, 502),
        (
            "/",
            None,
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            200,
        ),
        ("/produit/PRD-00007", None, "python-requests/2.31", 200),
    ] {
        assert!(get(p, path, cust, ua).contains(&status.to_string()));
        expect_status.push(status);
        sent += 1;
    }
    // Malformed requests over a raw socket: NUL byte, invalid UTF-8, a TLS hello, an invalid method.
    for bad in [
        &b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"GET /caf\xe9?q=\xff HTTP/1.1\r\nHost: x\r\nUser-Agent: bad\xff\xfeagent\r\nConnection: close\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n",
        b"G@T /x HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        raw(p, bad);
        sent += 1;
    }
    // nginx logs a request when it frees it, which for a rejected one can be
    // after a lingering close: wait for every line before stopping it.
    let path = ngx.log.clone();
    let lines = || {
        std::fs::read(&path)
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0)
    };
    for _ in 0..100 {
        if lines() >= sent {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read(ngx.stop()).unwrap();
    assert_eq!(
        log.iter().filter(|&&b| b == b'\n').count(),
        sent,
        "{}",
        String::from_utf8_lossy(&log)
    );

    env.write("kvt.toml", NGINX_CONFIG);
    env.write("drop/nginx_data/access.log", &log);
    run_expect(env.kvt().args(["ingest", "drive", "nginx"]), 0);
    let s = run_expect(&mut silver(&env), 0).summary();
    assert_eq!(s["rows_in"], sent as u64, "{s}");
    assert_eq!(
        s["rows_out"], sent as u64,
        "every line nginx wrote is a valid line: {s}"
    );
    assert_eq!(s["rejected"], 0);

    let partitions = files_under(&env.lake().join("silver/nginx"));
    let part = partitions
        .iter()
        .find(|f| f.ends_with("_parts.json"))
        .unwrap();
    let partition = format!("nginx/{}", part.trim_end_matches("/_parts.json"));
    let df = read_table(&env, &partition);
    assert_eq!(df.height(), sent);
    let col = |n: &str| df.column(n).unwrap().clone();
    let strings = |n: &str| -> Vec<Option<String>> {
        col(n)
            .str()
            .unwrap()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    };
    let status: Vec<i32> = col("status_code")
        .i32()
        .unwrap()
        .iter()
        .map(|v| v.unwrap())
        .collect();
    assert_eq!(&status[..7], &expect_status[..]);
    assert!(
        status[7..].iter().all(|&s| s == 400 || s == 404),
        "{status:?}"
    );
    let paths: Vec<Option<String>> = col("path")
        .str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect();
    assert_eq!(
        paths[1].as_deref(),
        Some("/produit/PRD-00042"),
        "query string dropped"
    );
    let qk = col("query_keys");
    assert_eq!(qk.str().unwrap().get(1), Some("email,ref"));
    let ips = strings("ip_truncated");
    assert!(
        ips.iter().all(|ip| ip.as_deref() == Some("127.0.0.xxx")),
        "{ips:?}"
    );
    let pseudo = kvt::silver::pseudo::Pseudonymizer::new(kvt::silver::pseudo::DEV_KEY.as_bytes());
    assert_eq!(
        col("customer_id").str().unwrap().get(0),
        Some(pseudo.pseudo("CUST-000123").as_str())
    );
    let bots: Vec<bool> = col("is_bot")
        .bool()
        .unwrap()
        .iter()
        .map(|v| v.unwrap())
        .collect();
    assert_eq!(&bots[..7], &[false, false, false, false, false, true, true]);
    let fam: Vec<String> = strings("status_family").into_iter().flatten().collect();
    assert_eq!(&fam[..5], &["2xx", "2xx", "3xx", "4xx", "5xx"]);
    // The TLS hello: kept, without method or path.
    assert_eq!(col("method").str().unwrap().get(9), None);
    // Nothing of the e-mail in the query string survives anywhere.
    for name in df.get_column_names() {
        let c = df
            .column(name)
            .unwrap()
            .cast(&polars::prelude::DataType::String)
            .unwrap();
        for v in c.str().unwrap().iter().flatten() {
            assert!(!v.contains("jean.dupont"), "{name}: {v}");
            assert!(!v.contains("CUST-000123"), "{name}: {v}");
        }
    }
}
