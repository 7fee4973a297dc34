//! `faultline serve [--results DIR] [--bind ADDR]`: browse stored runs in a
//! web browser.
//!
//! - `/`: every run of `DIR/<test>/<start-time>/`, newest first, with its
//!   verdict, duration, nemesis, seed and op counts; `?verdict=V&test=T`
//!   filters (see `pages::Filter`).
//! - `/runs/<test>/<start>/`: the run's `report.html`, or a listing of its
//!   files when it has none (`?list` lists them anyway);
//!   `/runs/<test>/<start>/<file>`: any file of the run, subdirectories
//!   (`nodes/`) included, streamed with its content type.
//!
//! Nothing outside `DIR` is ever served or opened: every URL path is
//! checked as sent, then resolved through symlinks and compared with the
//! canonical `DIR` (module `paths`). The server binds to loopback unless told
//! otherwise, prints `faultline: serving DIR/ at http://ADDR/` as its first
//! line of stdout (so a script can read the port of `--bind 127.0.0.1:0`),
//! and stops on SIGINT or SIGTERM with exit 0. A missing `DIR` or an
//! address it cannot listen on exits 254.

mod pages;
mod paths;
mod runs;

use crate::checker::Validity;
use crate::exit::{CliError, CmdResult};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Arguments of `faultline serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The results directory to browse.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results: PathBuf,
    /// The address to listen on (`127.0.0.1:0` picks a free port). Any
    /// address but loopback lets others on the network read every run.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub bind: String,
}

/// Run `faultline serve` until SIGINT or SIGTERM.
pub fn run(args: Args) -> CmdResult {
    let root = std::fs::canonicalize(&args.results).map_err(|e| {
        CliError::bad_input(anyhow::anyhow!("--results {}: {e}", args.results.display()))
    })?;
    if !root.is_dir() {
        return Err(CliError::bad_input(anyhow::anyhow!(
            "--results {}: not a directory",
            args.results.display()
        )));
    }
    let addr: SocketAddr = args.bind.trim().parse().map_err(|e| {
        CliError::bad_input(anyhow::anyhow!(
            "--bind `{}`: {e} (expected IP:PORT, e.g. 127.0.0.1:8080)",
            args.bind
        ))
    })?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "faultline: warning: --bind {addr} is not a loopback address: \
             anyone who can reach it can read every run"
        );
    }
    let shown = args.results.display().to_string();
    let shown = match shown.trim_end_matches('/') {
        "" => "/".to_string(),
        s => format!("{s}/"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::internal(anyhow::anyhow!("serve: tokio runtime: {e}")))?;
    let result = rt.block_on(serve(Served { root, shown }, addr));
    // Do not wait for a listing still being read.
    rt.shutdown_timeout(Duration::from_millis(200));
    result.map(|()| Validity::Valid)
}

/// What every request handler shares.
#[derive(Debug)]
struct Served {
    /// The results directory, canonical.
    root: PathBuf,
    /// The results directory as given, with a trailing `/`, for the pages.
    shown: String,
}

/// How long open connections get to finish after a stop signal.
const GRACE: Duration = Duration::from_secs(3);

async fn serve(served: Served, addr: SocketAddr) -> Result<(), CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    // Handlers first: a signal sent as soon as the URL is printed stops the
    // server cleanly.
    let signal_err = |e| CliError::internal(anyhow::anyhow!("serve: signal handler: {e}"));
    let mut term = signal(SignalKind::terminate()).map_err(signal_err)?;
    let mut int = signal(SignalKind::interrupt()).map_err(signal_err)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::bad_input(anyhow::anyhow!("--bind {addr}: cannot listen: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::internal(anyhow::anyhow!("serve: {e}")))?;
    println!("faultline: serving {} at http://{local}/", served.shown);
    // A closed stdout must not stop the server.
    let _ = std::io::stdout().flush();

    let app = Router::new()
        .route("/", get(index))
        .route("/runs", get(home))
        .route("/runs/", get(home))
        .route("/runs/{*rest}", get(run_path))
        .fallback(not_found)
        .with_state(Arc::new(served));
    // On loopback, a page of another site must not reach the runs by
    // pointing its own name at 127.0.0.1 (DNS rebinding).
    let app = if local.ip().is_loopback() {
        app.layer(axum::middleware::from_fn(only_loopback_hosts))
    } else {
        app
    };
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        eprintln!("faultline: {name}: stopping");
        let _ = stop_tx.send(true);
    });
    tokio::select! {
        r = server => r.map_err(|e| CliError::internal(anyhow::anyhow!("serve: {e}"))),
        // A browser holding a connection open does not keep it running.
        _ = async {
            let _ = stop_rx.wait_for(|stop| *stop).await;
            tokio::time::sleep(GRACE).await;
        } => Ok(()),
    }
}

/// The content security policy of the pages this server writes: an
/// inline style sheet and nothing else.
const CSP_PAGES: &str = "default-src 'none'; style-src 'unsafe-inline'";
/// The policy of a run's files (its `report.html` has inline scripts and
/// images): nothing may be fetched from the network.
const CSP_FILES: &str = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; \
                         script-src 'unsafe-inline'; font-src data:";

/// A page of ours.
fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP_PAGES),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    html(status, pages::error(title.trim(), message))
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, v)]).into_response(),
        Err(_) => error_page(StatusCode::BAD_REQUEST, "bad path"),
    }
}

fn refused(r: paths::Refused) -> Response {
    let status = match r {
        paths::Refused::Missing => StatusCode::NOT_FOUND,
        paths::Refused::Syntax(_) | paths::Refused::Outside => StatusCode::FORBIDDEN,
    };
    error_page(status, &r.to_string())
}

/// Refuse a request whose `Host` is not a loopback name (see
/// [`loopback_host`]).
async fn only_loopback_hosts(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or(""));
    if host.is_some_and(|h| !loopback_host(h)) {
        return error_page(
            StatusCode::FORBIDDEN,
            "the Host header does not name this machine (localhost, 127.0.0.1 or [::1])",
        );
    }
    next.run(req).await
}

/// Whether `host` (a `Host` header: a name, maybe with a port) names the
/// loopback: `localhost`, `127.x.y.z` or `[::1]`. Any port is accepted, so
/// an SSH tunnel to another local port still works.
fn loopback_host(host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let name = if host.starts_with('[') {
        match host.find(']') {
            Some(end) => &host[..=end],
            None => return false,
        }
    } else {
        host.rsplit_once(':')
            .map_or(host.as_str(), |(name, _)| name)
    };
    name == "localhost"
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "not found")
}

async fn home() -> Response {
    redirect("/")
}

/// `/`: the runs, newest first, filtered by the query string.
async fn index(State(st): State<Arc<Served>>, uri: Uri) -> Response {
    let filter = match pages::Filter::parse(uri.query()) {
        Ok(f) => f,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    let root = st.root.clone();
    match tokio::task::spawn_blocking(move || runs::scan(&root)).await {
        Ok(Ok(rows)) => html(StatusCode::OK, pages::index(&st.shown, &rows, &filter)),
        Ok(Err(e)) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot list {}: {e}", st.shown),
        ),
        Err(e) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &format!("listing: {e}")),
    }
}

/// What a path below `/runs/` turned out to be.
enum Target {
    /// A file to send.
    File(PathBuf),
    /// A run's `report.html`.
    Report(PathBuf),
    /// A directory to list.
    Listing(Box<pages::Listing>),
    /// The results directory itself (through a symlink): the index.
    Root,
}

/// `/runs/<test>/<start>/[<file>...]`.
async fn run_path(State(st): State<Arc<Served>>, uri: Uri) -> Response {
    let path = uri.path();
    let rest = path.strip_prefix("/runs/").unwrap_or_default();
    let segments = match paths::decode_segments(rest) {
        Ok(s) => s,
        Err(r) => return refused(r),
    };
    if segments.is_empty() {
        return redirect("/");
    }
    let list = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "list" || p.starts_with("list=")));
    let wants_dir = path.ends_with('/');
    let root = st.root.clone();
    let target = tokio::task::spawn_blocking(move || -> Result<Target, paths::Refused> {
        let real = paths::resolve(&root, &segments)?;
        let meta = std::fs::metadata(&real).map_err(|_| paths::Refused::Missing)?;
        if meta.is_file() {
            return Ok(Target::File(real));
        }
        // A FIFO or a device would block or never end: not served.
        if !meta.is_dir() {
            return Err(paths::Refused::Missing);
        }
        // Where it really is: `latest` is shown as the run it points to.
        let crumbs: Vec<std::ffi::OsString> = real
            .strip_prefix(&root)
            .map(|r| r.iter().map(|c| c.to_os_string()).collect())
            .unwrap_or_default();
        if crumbs.is_empty() {
            return Ok(Target::Root);
        }
        let is_run = crumbs.len() == 2;
        if is_run && !list {
            if let Ok(report) = paths::inside(&root, &real.join("report.html")) {
                if report.is_file() {
                    return Ok(Target::Report(report));
                }
            }
        }
        let run = is_run.then(|| runs::read_run(&root, crumbs[0].clone(), crumbs[1].clone()));
        let note = (is_run && !list).then_some("This run has no report.html (yet).");
        Ok(Target::Listing(Box::new(pages::Listing {
            entries: list_dir(&root, &real),
            crumbs,
            note,
            run,
        })))
    })
    .await;
    let target = match target {
        Ok(Ok(t)) => t,
        Ok(Err(r)) => return refused(r),
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}")),
    };
    match target {
        Target::File(_) if wants_dir => error_page(StatusCode::NOT_FOUND, "not a directory"),
        Target::File(real) => send_file(&real).await,
        // Relative links (report.html's images) need the trailing slash.
        Target::Report(_) | Target::Listing(_) if !wants_dir => {
            let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
            redirect(&format!("{path}/{query}"))
        }
        Target::Report(report) => send_file(&report).await,
        Target::Listing(listing) => html(StatusCode::OK, pages::listing(&listing)),
        Target::Root => redirect("/"),
    }
}

/// The entries of `dir` that resolve inside `root`: directories first,
/// then files, each by name.
fn list_dir(root: &Path, dir: &Path) -> Vec<pages::Entry> {
    let mut out = Vec::new();
    let Ok(read) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in read.flatten() {
        // A symlink leading outside (or nowhere) is not shown.
        let Ok(real) = paths::inside(root, &entry.path()) else {
            continue;
        };
        let Ok(meta) = std::fs::metadata(&real) else {
            continue;
        };
        if !meta.is_file() && !meta.is_dir() {
            continue;
        }
        out.push(pages::Entry {
            name: entry.file_name(),
            dir: meta.is_dir(),
            size: meta.len(),
        });
    }
    out.sort_by(|a, b| b.dir.cmp(&a.dir).then_with(|| a.name.cmp(&b.name)));
    out
}

/// The content type of a run's file, by its extension: HTML, JSON, PNG
/// and SVG as such, everything else (`.jsonl`, `.yaml`, `.log`...) as
/// plain text.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => "text/plain; charset=utf-8",
    }
}

/// How much of a file is read at once while it is sent.
const CHUNK: usize = 64 << 10;

/// `real` (canonical, inside the results directory), streamed: a history
/// of a million ops is never held in memory. A file still growing (the
/// history of a run going on) is sent as long as it was when opened.
async fn send_file(real: &Path) -> Response {
    let file = match tokio::fs::File::open(real).await {
        Ok(f) => f,
        Err(e) => return error_page(StatusCode::NOT_FOUND, &format!("cannot open: {e}")),
    };
    let len = match file.metadata().await {
        Ok(m) => m.len(),
        Err(e) => return error_page(StatusCode::NOT_FOUND, &format!("cannot read: {e}")),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut file = file.take(len);
        loop {
            let mut buf = vec![0u8; CHUNK];
            match file.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    // The client went away: stop reading.
                    if tx.send(Ok(Bytes::from(buf))).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            }
        }
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type(real).to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
            (header::CONTENT_SECURITY_POLICY, CSP_FILES.to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CACHE_CONTROL, "no-cache".to_string()),
        ],
        Body::from_stream(Chunks(rx)),
    )
        .into_response()
}

/// The chunks of a file being read, as the body's stream.
struct Chunks(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>);

impl futures_core::Stream for Chunks {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_are_loopback_hosts() {
        for ok in [
            "127.0.0.1:8080",
            "localhost",
            "LOCALHOST:1",
            "127.1.2.3",
            "[::1]:80",
            "[::1]",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "10.0.0.1:8080",
            "[::2]:1",
            "[::1",
            "",
        ] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(
            content_type(Path::new("report.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("results.json")), "application/json");
        assert_eq!(content_type(Path::new("rate.PNG")), "image/png");
        assert_eq!(content_type(Path::new("rate.svg")), "image/svg+xml");
        for plain in [
            "history.jsonl",
            "test.yaml",
            "faultline.log",
            "nodes/n1/out",
            "x.exe",
        ] {
            assert_eq!(content_type(Path::new(plain)), "text/plain; charset=utf-8");
        }
    }
}
