//! `faultline serve` end to end, through the real binary on a free
//! loopback port, over a results directory built by hand: two finished
//! runs, one without `results.json` (unfinished), one with a broken one,
//! one whose test is named `<script>`, `latest` symlinks, a symlink to a
//! directory outside and one to a secret file outside.
//!
//! Checked: the index lists the runs newest first with their verdicts,
//! its verdict and test filters, a run's `report.html` and files with their
//! content types, listings, escaping, and that no traversal (`..`, encoded
//! dots and slashes, backslashes, NUL, symlinks) gets anything but 403/404
//! and never the secret. Encoded paths go over a raw `TcpStream`, since an
//! HTTP client may normalise them. Every test kills its server (no
//! process is left behind); one stops it with SIGTERM and wants exit 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SECRET: &str = "TOP-SECRET-42";
const BIN: &str = env!("CARGO_BIN_EXE_faultline");

/// A running `faultline serve`, killed when dropped.
struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, without the trailing slash.
    base: String,
    port: u16,
}

impl Server {
    /// Start `faultline serve --results DIR --bind 127.0.0.1:0` and read
    /// the port from its first line of stdout.
    fn start(results: &Path) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--bind", "127.0.0.1:0", "--results"])
            .arg(results)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn faultline serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("faultline serve printed no URL within 30 s");
            }
        };
        let prefix = format!("faultline: serving {}/ at http://", results.display());
        let Some(addr) = line
            .trim_end()
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix('/'))
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("unexpected first line: {line:?}");
        };
        let port = addr.rsplit_once(':').unwrap().1.parse().unwrap();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        Server {
            child,
            base: format!("http://{addr}"),
            port,
        }
    }

    /// `GET path` sent as written (no normalisation) over a raw TCP
    /// connection: (status, lower-cased head, body).
    fn raw_get(&self, path: &str) -> (u16, String, Vec<u8>) {
        self.raw_get_from(path, "127.0.0.1")
    }

    /// [`Server::raw_get`] with this `Host` header.
    fn raw_get_from(&self, path: &str, host: &str) -> (u16, String, Vec<u8>) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
        let end = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of head: {}", String::from_utf8_lossy(&buf)));
        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status: {head}"));
        (status, head, buf[end + 4..].to_vec())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that does not follow redirects (to see them).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

struct Got {
    status: u16,
    content_type: String,
    location: Option<String>,
    body: Vec<u8>,
}

impl Got {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn get(server: &Server, path: &str) -> Got {
    let r = client()
        .get(format!("{}{path}", server.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    Got {
        status: r.status().as_u16(),
        content_type: header("content-type").unwrap_or_default(),
        location: header("location"),
        body: r.bytes().await.unwrap().to_vec(),
    }
}

const RUN_A: &str = "/runs/reg-a/20261201T100000.000Z/";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n-not-really-a-png";

fn write(path: &Path, content: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// `results.json` as the runner writes it, for what the index reads.
fn results_json(test: &str, valid: &str, seed: u64, nemesis: &str, end_ns: u64) -> String {
    serde_json::json!({
        "test": test,
        "seed": seed,
        "valid": valid,
        "history_valid": valid,
        "start": "2026-12-01T10:00:00+00:00",
        "interrupted": null,
        "checkers": [],
        "ops": {"invoke": 120, "ok": 100, "fail": 15, "info": 3, "open": 2},
        "latency": [],
        "nemesis": {"name": nemesis, "intervals": [], "quorum_share": 1.0,
                    "skipped": [], "errors": []},
        "phases": [{"name": "main", "start": 0, "end": end_ns / 2},
                   {"name": "final", "start": end_ns / 2, "end": end_ns}],
        "warnings": [],
        "check_seconds": 0.01
    })
    .to_string()
}

/// The hand-built results directory, inside `tmp`; returns its path.
fn fixture(tmp: &Path) -> PathBuf {
    let r = tmp.join("results");
    write(&tmp.join("secret.txt"), SECRET);
    // A run stored outside, reached through a symlink in results/.
    write(
        &tmp.join("outside/20261210T000000.000Z/results.json"),
        results_json("OUTSIDE-RUN", "valid", 99, "none", 1),
    );
    write(&tmp.join("outside/secret.txt"), SECRET);

    let a = r.join("reg-a/20261201T100000.000Z");
    write(
        &a.join("results.json"),
        results_json("reg-a", "valid", 11, "partition", 5_000_000_000),
    );
    write(&a.join("test.yaml"), "name: reg-a\nseed: 11\n");
    write(
        &a.join("history.jsonl"),
        "{\"index\":0,\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"time\":1}\n",
    );
    write(
        &a.join("report.html"),
        "<!doctype html><title>A</title><p>REPORT-OF-A <img src=\"latency-raw.png\">",
    );
    write(&a.join("latency-raw.png"), PNG);
    write(
        &a.join("latency-raw.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    );
    write(&a.join("faultline.log"), "log line\n");
    write(&a.join("nodes/n1/refkv.log"), "node n1 says hi\n");
    std::os::unix::fs::symlink(tmp.join("secret.txt"), a.join("leak")).unwrap();
    // A FIFO: opening it to read would block until a writer comes.
    nix::unistd::mkfifo(&a.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::os::unix::fs::symlink("20261201T100000.000Z", r.join("reg-a/latest")).unwrap();
    std::os::unix::fs::symlink("reg-a/20261201T100000.000Z", r.join("latest")).unwrap();
    std::os::unix::fs::symlink(tmp.join("outside"), r.join("escape")).unwrap();

    write(
        &r.join("bank-b/20261202T100000.000Z/results.json"),
        results_json("bank-b", "invalid", 22, "kill", 61_000_000_000),
    );

    let c = r.join("set-c/20261203T100000.000Z");
    write(
        &c.join("test.yaml"),
        "name: set-c\nseed: 33\nnemesis:\n  name: pause\n  faults: []\n",
    );
    write(
        &c.join("history.jsonl"),
        "{\"index\":0,\"type\":\"invoke\",\"process\":0,\"f\":\"add\",\"time\":1000}\n\
         {\"index\":1,\"type\":\"ok\",\"process\":0,\"f\":\"add\",\"time\":7500000000}\n\
         {\"index\":2,\"type\":\"inv",
    );

    write(
        &r.join("broken-d/20261204T100000.000Z/results.json"),
        "{ this is not json",
    );
    // A history that is a FIFO must not hang the index.
    nix::unistd::mkfifo(
        &r.join("broken-d/20261204T100000.000Z/history.jsonl"),
        nix::sys::stat::Mode::S_IRWXU,
    )
    .unwrap();

    write(
        &r.join("<script>/20261130T100000.000Z/results.json"),
        results_json("<script>alert(1)</script>", "unknown", 44, "<b>n</b>", 1),
    );
    r
}

/// The rows of the index's table, in order.
fn rows(html: &str) -> Vec<&str> {
    html.split("<tr>").skip(2).collect()
}

#[tokio::test]
async fn the_index_lists_runs_newest_first_with_their_verdicts() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&fixture(tmp.path()));
    let got = get(&server, "/").await;
    assert_eq!(got.status, 200);
    assert!(
        got.content_type.starts_with("text/html"),
        "{}",
        got.content_type
    );
    let html = got.text();
    let rows = rows(&html);
    assert_eq!(rows.len(), 5, "{html}");
    // Newest first, across tests.
    for (row, (test, verdict)) in rows.iter().zip([
        ("broken-d", "unreadable"),
        ("set-c", "unfinished"),
        ("bank-b", "invalid"),
        ("reg-a", "valid"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "unknown"),
    ]) {
        assert!(row.contains(&format!(">{test}</a>")), "{test} in {row}");
        assert!(
            row.contains(&format!("<span class=\"v v-{verdict}\">{verdict}</span>")),
            "{verdict} in {row}"
        );
    }
    // Columns of a finished run: date, duration, nemesis, seed, op counts.
    let a = rows[3];
    assert!(a.contains(&format!("href=\"{RUN_A}\"")), "{a}");
    for cell in [
        "2026-12-01 10:00:00",
        "5.0 s",
        ">partition<",
        ">11<",
        ">120<",
        ">100<",
        ">15<",
        ">5<",
    ] {
        assert!(a.contains(cell), "{cell} in {a}");
    }
    assert!(rows[2].contains("1 min 01 s"), "{}", rows[2]);
    // An unfinished run: test.yaml's seed and nemesis, the history's last
    // complete op as its duration.
    let c = rows[1];
    for cell in [">33<", ">pause<", "7.5 s"] {
        assert!(c.contains(cell), "{cell} in {c}");
    }
    // A broken results.json says why, in its row only.
    assert!(rows[0].contains("unreadable: results.json:"), "{}", rows[0]);
    assert!(
        rows[0].contains("history.jsonl: not a regular file"),
        "{}",
        rows[0]
    );
    // Symlinks are not runs: not `latest`, not the directory outside.
    assert!(
        !html.contains("OUTSIDE-RUN") && !html.contains(">latest<"),
        "{html}"
    );
}

#[tokio::test]
async fn the_verdict_and_test_filters_narrow_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&fixture(tmp.path()));
    let tests_of = |html: &str| -> Vec<String> {
        rows(html)
            .iter()
            .map(|r| {
                let start = r.find("/\">").unwrap() + 3;
                r[start..start + r[start..].find("</a>").unwrap()].to_string()
            })
            .collect()
    };
    let got = get(&server, "/?verdict=invalid").await;
    assert_eq!(tests_of(&got.text()), ["bank-b"]);
    // The form shows the filter chosen.
    assert!(got.text().contains("<option value=\"invalid\" selected>"));
    let got = get(&server, "/?test=SET").await;
    assert_eq!(tests_of(&got.text()), ["set-c"]);
    assert!(got.text().contains("value=\"SET\""));
    let got = get(&server, "/?verdict=unfinished&test=-c").await;
    assert_eq!(tests_of(&got.text()), ["set-c"]);
    let got = get(&server, "/?verdict=valid&test=bank").await;
    assert!(tests_of(&got.text()).is_empty());
    assert!(got.text().contains("No run matches."));
    let got = get(&server, "/?verdict=all&test=").await;
    assert_eq!(tests_of(&got.text()).len(), 5);
    // A filter value is shown escaped.
    let got = get(&server, "/?test=%3Cscript%3E").await;
    assert_eq!(tests_of(&got.text()).len(), 1);
    assert!(got.text().contains("value=\"&lt;script&gt;\""));
    // A verdict that does not exist is an error naming it.
    let got = get(&server, "/?verdict=broken").await;
    assert_eq!(got.status, 400);
    assert!(
        got.text().contains("verdict `broken` is not one of"),
        "{}",
        got.text()
    );
}

#[tokio::test]
async fn a_run_serves_its_report_and_its_files_with_their_types() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&fixture(tmp.path()));

    let got = get(&server, RUN_A).await;
    assert_eq!(
        (got.status, got.content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    assert!(got.text().contains("REPORT-OF-A"));
    // Without its slash, a run redirects (its report's links are relative).
    let got = get(&server, RUN_A.trim_end_matches('/')).await;
    assert_eq!((got.status, got.location.as_deref()), (308, Some(RUN_A)));
    // Through the `latest` symlinks, which stay inside.
    let got = get(&server, "/runs/reg-a/latest/").await;
    assert!(got.text().contains("REPORT-OF-A"));

    for (file, ctype, content) in [
        ("results.json", "application/json", None),
        ("latency-raw.png", "image/png", Some(PNG)),
        ("latency-raw.svg", "image/svg+xml", None),
        ("history.jsonl", "text/plain; charset=utf-8", None),
        (
            "test.yaml",
            "text/plain; charset=utf-8",
            Some(&b"name: reg-a\nseed: 11\n"[..]),
        ),
        ("faultline.log", "text/plain; charset=utf-8", None),
        (
            "nodes/n1/refkv.log",
            "text/plain; charset=utf-8",
            Some(&b"node n1 says hi\n"[..]),
        ),
    ] {
        let got = get(&server, &format!("{RUN_A}{file}")).await;
        assert_eq!(
            (got.status, got.content_type.as_str()),
            (200, ctype),
            "{file}"
        );
        if let Some(content) = content {
            assert_eq!(got.body, content, "{file}");
        }
    }
    let got = get(&server, &format!("{RUN_A}results.json")).await;
    let json: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(json["test"], "reg-a");

    // The files of a run with a report, on demand; the one leading outside
    // is not listed.
    let got = get(&server, &format!("{RUN_A}?list")).await;
    let html = got.text();
    for link in [
        "results.json\"",
        "history.jsonl\"",
        "nodes/\"",
        "latency-raw.png\"",
    ] {
        assert!(
            html.contains(&format!("href=\"{RUN_A}{link}")),
            "{link} in {html}"
        );
    }
    assert!(!html.contains("leak") && !html.contains("fifo"), "{html}");
    // Through `latest`, links name the run where it really is.
    let got = get(&server, "/runs/latest/?list").await;
    assert!(got
        .text()
        .contains(&format!("href=\"{RUN_A}results.json\"")));
    let got = get(&server, &format!("{RUN_A}nodes/n1/")).await;
    assert!(got
        .text()
        .contains(&format!("href=\"{RUN_A}nodes/n1/refkv.log\"")));

    // A run without report.html lists its files.
    let got = get(&server, "/runs/set-c/20261203T100000.000Z/").await;
    assert_eq!(got.status, 200);
    assert!(got.text().contains("no report.html"), "{}", got.text());
    // Its summary first: verdict, duration so far, nemesis, seed.
    for part in ["v-unfinished", "7.5 s", "nemesis pause", "seed 33"] {
        assert!(got.text().contains(part), "{part} in {}", got.text());
    }
    assert!(got.text().contains("test.yaml</a>"));

    let got = get(&server, &format!("{RUN_A}nope.txt")).await;
    assert_eq!(got.status, 404);
    // Not a regular file: not served (nor listed, above), never blocks.
    let got = get(&server, &format!("{RUN_A}fifo")).await;
    assert_eq!(got.status, 404);
    let got = get(&server, &format!("{RUN_A}results.json/")).await;
    assert_eq!(got.status, 404);
    let got = get(&server, "/elsewhere").await;
    assert_eq!(got.status, 404);
}

#[test]
fn traversal_is_refused_and_the_secret_never_served() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&fixture(tmp.path()));
    let secret_path = tmp.path().join("secret.txt");
    let abs = secret_path.to_str().unwrap();
    let run_a = RUN_A.trim_end_matches('/');
    for path in [
        "/runs/../../secret.txt".to_string(),
        "/runs/../secret.txt".to_string(),
        "/runs/%2e%2e/%2e%2e/secret.txt".to_string(),
        "/runs/%2E%2E/%2E%2E/secret.txt".to_string(),
        "/runs/.%2e/secret.txt".to_string(),
        "/runs/a%2fb".to_string(),
        "/runs/..%2f..%2fsecret.txt".to_string(),
        "/runs/%2e%2e%2f%2e%2e%2fsecret.txt".to_string(),
        "/runs/reg-a%5c..%5c..%5csecret.txt".to_string(),
        "/runs/reg-a/%00".to_string(),
        format!("{run_a}/leak"),
        format!("{run_a}/../../../secret.txt"),
        format!("{run_a}/%2e%2e/%2e%2e/%2e%2e/secret.txt"),
        "/runs/escape/secret.txt".to_string(),
        "/runs/escape/".to_string(),
        "/runs/latest/../../secret.txt".to_string(),
        format!("/runs/{abs}"),
        format!("/runs/{}", abs.replace('/', "%2f")),
        "/../secret.txt".to_string(),
        "/%2e%2e/secret.txt".to_string(),
    ] {
        let (status, head, body) = server.raw_get(&path);
        assert!(
            status == 403 || status == 404,
            "{path}: status {status}\n{head}"
        );
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains(SECRET), "{path} served the secret");
    }
    // A raw backslash is not even a valid request target.
    let (status, _, body) = server.raw_get("/runs/..\\..\\secret.txt");
    assert!(matches!(status, 400 | 403 | 404), "status {status}");
    assert!(!String::from_utf8_lossy(&body).contains(SECRET));
    // A page of another site, its name pointed at 127.0.0.1 (DNS
    // rebinding), is refused; a loopback name on any port is not.
    let (status, _, body) = server.raw_get_from(&format!("{RUN_A}test.yaml"), "evil.example");
    assert_eq!(status, 403);
    assert!(!String::from_utf8_lossy(&body).contains("reg-a"));
    let (status, _, _) = server.raw_get_from("/", "localhost:9999");
    assert_eq!(status, 200);
    // The server is still up, and serves what it should.
    let (status, _, body) = server.raw_get(&format!("{RUN_A}test.yaml"));
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("reg-a"));
}

#[tokio::test]
async fn a_test_named_script_is_escaped_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&fixture(tmp.path()));
    let html = get(&server, "/").await.text();
    assert!(
        !html.contains("<script") && !html.contains("<b>n</b>"),
        "{html}"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;b&gt;n&lt;/b&gt;"));
    // Its link is encoded, and leads to its listing, escaped too.
    let href = "/runs/%3Cscript%3E/20261130T100000.000Z/";
    assert!(html.contains(&format!("href=\"{href}\"")), "{html}");
    let got = get(&server, href).await;
    assert_eq!(got.status, 200);
    let page = got.text();
    assert!(
        !page.contains("<script") && page.contains("&lt;script&gt;"),
        "{page}"
    );
    assert!(
        page.contains(&format!("href=\"{href}results.json\"")),
        "{page}"
    );
}

/// Run `faultline serve ARGS` expecting it to exit at once: (code, stderr).
fn serve_fails(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_results_dir_or_a_bad_address_exits_254() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let (code, err) = serve_fails(&[
        "--bind",
        "127.0.0.1:0",
        "--results",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("--results") && err.contains("nope"), "{err}");

    let file = tmp.path().join("file");
    std::fs::write(&file, "").unwrap();
    let (code, err) = serve_fails(&["--bind", "127.0.0.1:0", "--results", file.to_str().unwrap()]);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("not a directory"), "{err}");

    let dir = tmp.path().to_str().unwrap();
    let (code, err) = serve_fails(&["--bind", "localhost", "--results", dir]);
    assert_eq!(code, Some(254), "{err}");
    assert!(err.contains("--bind `localhost`"), "{err}");

    // A port already taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, err) = serve_fails(&["--bind", &addr, "--results", dir]);
    assert_eq!(code, Some(254), "{err}");
    assert!(
        err.contains(&format!("--bind {addr}: cannot listen")),
        "{err}"
    );
}

#[test]
fn sigterm_stops_the_server_with_exit_0() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&fixture(tmp.path()));
    // Hold a keep-alive connection open: it must not keep the server up.
    let mut idle = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(idle, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let pid = nix::unistd::Pid::from_raw(server.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn a_real_memory_run_is_listed_and_served() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let out = Command::new(BIN)
        .args([
            "test",
            "--cluster",
            "memory",
            "--workload",
            "register",
            "--nemesis",
            "none",
            "--time-limit",
            "1",
            "--recovery",
            "0",
            "--seed",
            "4242",
            "--name",
            "served-run",
            "--results",
        ])
        .arg(&results)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start(&results);
    let html = get(&server, "/").await.text();
    let rows = rows(&html);
    assert_eq!(rows.len(), 1, "{html}");
    let row = rows[0];
    for cell in [">served-run</a>", "v-valid", ">4242<", ">none<"] {
        assert!(row.contains(cell), "{cell} in {row}");
    }
    // Its link opens the run (its report, or its files until there is one).
    let start = row.find("href=\"").unwrap() + 6;
    let href = &row[start..start + row[start..].find('"').unwrap()];
    let got = get(&server, href).await;
    assert_eq!(got.status, 200, "{href}");
    let got = get(&server, &format!("{href}history.jsonl")).await;
    assert_eq!(got.status, 200);
    let expected = std::fs::read(results.join("served-run/latest/history.jsonl")).unwrap();
    assert_eq!(got.body, expected);
}
