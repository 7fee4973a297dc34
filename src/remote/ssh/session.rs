//! One SSH connection per node, reused for every command (a channel per
//! command), re-established with bounded retries when it died; and the
//! runtime it lives on.
//!
//! russh is async; [`crate::remote::Remote`] is sync and is called from
//! plain threads, from a runtime's blocking pool (`spawn_blocking`) and
//! sometimes from inside a task. So every connection lives on a runtime of
//! the backend's own ([`Rt`]): a sync call spawns its future there and
//! waits on a std channel, which works from any thread (no `block_on`,
//! which refuses to run inside another runtime).

use super::hostkey::{self, Verdict};
use russh::client::{self, AuthResult, Handle};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Channels open at once on one connection: below OpenSSH's default
/// `MaxSessions 10`, so a burst of commands waits instead of failing.
const MAX_CHANNELS: usize = 8;

/// The backend's own tokio runtime (two worker threads), shut down in the
/// background when dropped, so dropping it inside a task cannot panic.
pub struct Rt(Option<tokio::runtime::Runtime>);

impl Rt {
    /// A new runtime.
    pub fn new() -> std::io::Result<Arc<Rt>> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("faultline-ssh")
            .enable_all()
            .build()?;
        Ok(Arc::new(Rt(Some(rt))))
    }

    /// Run `fut` to completion on this runtime and return its output; `None`
    /// when it panicked or the runtime is gone. Callable from any thread.
    pub fn run<F>(&self, fut: F) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let rt = self.0.as_ref()?;
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().ok()
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Everything needed to reach one node.
#[derive(Debug, Clone)]
pub struct Target {
    /// The node's name.
    pub node: String,
    /// Host name or address.
    pub host: String,
    /// SSH port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Private key file (`~` expanded); `None`: the agent.
    pub key: Option<PathBuf>,
    /// known_hosts file (`~` expanded).
    pub known_hosts: PathBuf,
    /// Accept hosts known_hosts does not list (with a warning).
    pub accept_unknown: bool,
    /// One connection attempt's timeout (TCP connect and handshake).
    pub connect_timeout: Duration,
    /// Connection attempts before the host counts as unreachable.
    pub retries: u32,
}

impl Target {
    /// `n3 (10.213.7.13:22)`: how errors name the node.
    pub fn label(&self) -> String {
        format!("{} ({}:{})", self.node, self.host, self.port)
    }

    fn key_label(&self) -> String {
        match &self.key {
            Some(k) => format!("with key {}", k.display()),
            None => "with the keys of the SSH agent (SSH_AUTH_SOCK)".into(),
        }
    }
}

/// Why connecting failed. Every variant but `Lost` is the user's to fix.
#[derive(Debug, Clone)]
pub enum ConnectError {
    /// Refused, timed out, no route: after every attempt.
    Unreachable(String),
    /// Host key unknown or changed.
    HostKey(String),
    /// The key or the agent was refused, or cannot be used.
    Auth(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Unreachable(m) | ConnectError::HostKey(m) | ConnectError::Auth(m) => {
                f.write_str(m)
            }
        }
    }
}

/// russh's callbacks: the host key check, whose refusal reason is kept
/// for the error message.
struct Client {
    target: Arc<Target>,
    refusal: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let t = &self.target;
        let refuse = |why: String| {
            *crate::sync::lock(&self.refusal) = Some(why);
            Ok(false)
        };
        let key = match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(_) => {
                return refuse(format!(
                    "{} offered a host certificate, which faultline does not verify: \
                     list its plain host key in {}",
                    t.label(),
                    t.known_hosts.display()
                ))
            }
        };
        match hostkey::verify(&t.known_hosts, &t.host, t.port, key) {
            Ok(Verdict::Known) => Ok(true),
            Ok(Verdict::Unknown) if t.accept_unknown => {
                hostkey::warn_unverified(&t.node, &t.host, t.port, key);
                Ok(true)
            }
            Ok(Verdict::Unknown) => refuse(hostkey::unknown_message(
                &t.node,
                &t.host,
                t.port,
                key,
                &t.known_hosts,
            )),
            Ok(Verdict::Changed { line }) => refuse(hostkey::changed_message(
                &t.node,
                &t.host,
                t.port,
                line,
                &t.known_hosts,
            )),
            Err(e) => refuse(format!("{}: {e}", t.label())),
        }
    }
}

/// What a command gave.
#[derive(Debug, Default)]
pub struct Output {
    /// Exit status, `-1` when killed by a signal or none was sent.
    pub status: i32,
    /// Standard output (empty when it went to a file).
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

/// Where a command's standard input comes from.
pub enum Input {
    /// Nothing (EOF at once).
    Nothing,
    /// This local file, streamed.
    File(PathBuf),
}

/// Where a command's standard output goes.
pub enum Sink {
    /// Kept in [`Output::stdout`].
    Capture,
    /// Written to this local file.
    File(PathBuf),
}

/// One node's connection.
pub struct Session {
    target: Arc<Target>,
    handle: tokio::sync::Mutex<Option<Arc<Handle<Client>>>>,
    slots: tokio::sync::Semaphore,
}

impl Session {
    /// A session to `target`, not connected yet.
    pub fn new(target: Target) -> Arc<Session> {
        Arc::new(Session {
            target: Arc::new(target),
            handle: tokio::sync::Mutex::new(None),
            slots: tokio::sync::Semaphore::new(MAX_CHANNELS),
        })
    }

    /// The node it reaches.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Connect now if not connected.
    pub async fn connect(&self) -> Result<(), ConnectError> {
        self.live_handle().await.map(|_| ())
    }

    async fn live_handle(&self) -> Result<Arc<Handle<Client>>, ConnectError> {
        let mut slot = self.handle.lock().await;
        if let Some(h) = slot.as_ref() {
            if !h.is_closed() {
                return Ok(h.clone());
            }
        }
        *slot = None;
        let h = Arc::new(connect(&self.target).await?);
        *slot = Some(h.clone());
        Ok(h)
    }

    async fn forget(&self, dead: &Arc<Handle<Client>>) {
        let mut slot = self.handle.lock().await;
        if slot.as_ref().is_some_and(|h| Arc::ptr_eq(h, dead)) {
            *slot = None;
        }
    }

    /// Close the connection (a later command reconnects).
    pub async fn close(&self) {
        if let Some(h) = self.handle.lock().await.take() {
            let _ = h
                .disconnect(Disconnect::ByApplication, "faultline done", "en")
                .await;
        }
    }

    /// Run the shell command line `cmd` on the node. The channel is opened
    /// on the live connection, reconnecting once when it died; a command
    /// that was started is never re-run.
    pub async fn run(&self, cmd: &str, input: Input, sink: Sink) -> Result<Output, String> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| "the session is closed".to_string())?;
        let mut last = String::new();
        for _ in 0..2 {
            let h = self.live_handle().await.map_err(|e| e.to_string())?;
            match h.channel_open_session().await {
                Ok(ch) => return run_channel(ch, cmd, input, sink).await,
                Err(e) => {
                    last = format!("cannot open a channel: {e}");
                    self.forget(&h).await;
                }
            }
        }
        Err(last)
    }
}

async fn run_channel(
    mut ch: russh::Channel<client::Msg>,
    cmd: &str,
    input: Input,
    sink: Sink,
) -> Result<Output, String> {
    ch.exec(true, cmd)
        .await
        .map_err(|e| format!("cannot start the command: {e}"))?;
    if let Input::File(path) = input {
        let f = tokio::fs::File::open(&path)
            .await
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        // Large reads: fewer, fuller packets for a big binary.
        let reader = tokio::io::BufReader::with_capacity(1 << 20, f);
        ch.data(reader)
            .await
            .map_err(|e| format!("sending {}: {e}", path.display()))?;
    }
    ch.eof().await.map_err(|e| format!("sending EOF: {e}"))?;
    let mut out = Output {
        status: -1,
        ..Output::default()
    };
    let mut file = match &sink {
        Sink::Capture => None,
        Sink::File(p) => Some(
            tokio::fs::File::create(p)
                .await
                .map_err(|e| format!("cannot write {}: {e}", p.display()))?,
        ),
    };
    while let Some(msg) = ch.wait().await {
        match msg {
            ChannelMsg::Data { data } => match file.as_mut() {
                Some(f) => f
                    .write_all(&data)
                    .await
                    .map_err(|e| format!("writing a local file: {e}"))?,
                None => out.stdout.extend_from_slice(&data),
            },
            ChannelMsg::ExtendedData { data, ext: 1 } => out.stderr.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => {
                out.status = i32::try_from(exit_status).unwrap_or(-1)
            }
            ChannelMsg::ExitSignal { .. } => out.status = -1,
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    if let Some(mut f) = file {
        f.flush()
            .await
            .map_err(|e| format!("writing a local file: {e}"))?;
    }
    Ok(out)
}

/// How a failed attempt reads: `connection refused`, `timed out after 2s`.
fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused".into(),
        K::ConnectionReset => "connection reset".into(),
        K::TimedOut => "timed out".into(),
        _ => {
            let s = e.to_string();
            // Drop the "(os error N)" tail.
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

/// Connect to `t` and log in: `t.retries` attempts for network failures;
/// host key and authentication failures are final at once.
async fn connect(t: &Arc<Target>) -> Result<Handle<Client>, ConnectError> {
    let config = Arc::new(client::Config {
        // Big windows: uploads of a 100+ MB binary are not held back.
        window_size: 16 * 1024 * 1024,
        maximum_packet_size: 65535,
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 4,
        nodelay: true,
        ..client::Config::default()
    });
    let attempts = t.retries.max(1);
    let mut reason = String::new();
    for attempt in 1..=attempts {
        if attempt > 1 {
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt - 1))).await;
        }
        let refusal = Arc::new(Mutex::new(None));
        let handler = Client {
            target: t.clone(),
            refusal: refusal.clone(),
        };
        let addr = (t.host.clone(), t.port);
        let r = tokio::time::timeout(
            t.connect_timeout,
            client::connect(config.clone(), addr, handler),
        )
        .await;
        let mut handle = match r {
            Err(_) => {
                reason = format!("timed out after {:?}", t.connect_timeout);
                continue;
            }
            Ok(Err(e)) => {
                if let Some(why) = crate::sync::lock(&refusal).take() {
                    return Err(ConnectError::HostKey(why));
                }
                reason = match &e {
                    russh::Error::IO(io) => io_reason(io),
                    other => other.to_string(),
                };
                continue;
            }
            Ok(Ok(h)) => h,
        };
        authenticate(&mut handle, t).await?;
        return Ok(handle);
    }
    Err(ConnectError::Unreachable(format!(
        "{}: unreachable after {attempts} attempt{}: {reason}",
        t.label(),
        if attempts == 1 { "" } else { "s" }
    )))
}

/// `~` and `~/x` are the home directory.
pub fn expand_home(p: &Path) -> PathBuf {
    let s = p.to_string_lossy();
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    if s == "~" {
        return home().unwrap_or_else(|| p.to_path_buf());
    }
    if let Some(rest) = s.strip_prefix("~/") {
        if let Some(h) = home() {
            return h.join(rest);
        }
    }
    p.to_path_buf()
}

fn load_key(path: &Path) -> Result<PrivateKey, String> {
    match russh::keys::load_secret_key(path, None) {
        Ok(k) => Ok(k),
        Err(russh::keys::Error::KeyIsEncrypted) => Err(format!(
            "key {} is protected by a passphrase: load it into ssh-agent (ssh-add) and leave \
             ssh.key out",
            path.display()
        )),
        Err(russh::keys::Error::IO(e)) => Err(format!(
            "cannot read key file {}: {}",
            path.display(),
            io_reason(&e)
        )),
        // The error of a malformed key never quotes the key.
        Err(e) => Err(format!("cannot use key file {}: {e}", path.display())),
    }
}

async fn authenticate(h: &mut Handle<Client>, t: &Target) -> Result<(), ConnectError> {
    let fail = |why: String| ConnectError::Auth(format!("{}: {why}", t.label()));
    let refused = || {
        fail(format!(
            "authentication failed for {} {}",
            t.user,
            t.key_label()
        ))
    };
    match &t.key {
        Some(path) => {
            let key = Arc::new(load_key(path).map_err(fail)?);
            let hash = if key.algorithm().is_rsa() {
                h.best_supported_rsa_hash().await.ok().flatten().flatten()
            } else {
                None
            };
            let r = h
                .authenticate_publickey(t.user.clone(), PrivateKeyWithHashAlg::new(key, hash))
                .await
                .map_err(|e| fail(format!("authenticating {} {}: {e}", t.user, t.key_label())))?;
            match r {
                AuthResult::Success => Ok(()),
                AuthResult::Failure { .. } => Err(refused()),
            }
        }
        None => {
            let mut agent = russh::keys::agent::client::AgentClient::connect_env()
                .await
                .map_err(|e| {
                    fail(format!(
                        "no ssh.key is given and the SSH agent cannot be reached ({e}): set \
                         ssh.key to a private key file or start ssh-agent"
                    ))
                })?;
            let ids = agent
                .request_identities()
                .await
                .map_err(|e| fail(format!("the SSH agent did not list its keys: {e}")))?;
            for id in ids {
                let russh::keys::agent::AgentIdentity::PublicKey { key, .. } = id else {
                    continue;
                };
                let hash = if key.algorithm().is_rsa() {
                    h.best_supported_rsa_hash().await.ok().flatten().flatten()
                } else {
                    None
                };
                if let Ok(AuthResult::Success) = h
                    .authenticate_publickey_with(t.user.clone(), key, hash, &mut agent)
                    .await
                {
                    return Ok(());
                }
            }
            Err(refused())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            node: "n3".into(),
            host: "10.213.7.13".into(),
            port: 22,
            user: "root".into(),
            key: Some("/root/.ssh/id_ed25519".into()),
            known_hosts: "/root/.ssh/known_hosts".into(),
            accept_unknown: false,
            connect_timeout: Duration::from_millis(300),
            retries: 2,
        }
    }

    #[test]
    fn home_is_expanded_only_at_the_start() {
        let home = std::env::var("HOME").unwrap_or_default();
        assert_eq!(
            expand_home(Path::new("~/.ssh/k")),
            Path::new(&home).join(".ssh/k")
        );
        assert_eq!(expand_home(Path::new("/a/~/b")), Path::new("/a/~/b"));
        assert_eq!(expand_home(Path::new("~other/x")), Path::new("~other/x"));
    }

    #[test]
    fn a_closed_port_is_unreachable_naming_node_host_and_attempts() {
        let rt = Rt::new().expect("runtime");
        // A port on loopback nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let t = Arc::new(Target {
            host: "127.0.0.1".into(),
            port,
            ..target()
        });
        let r = rt
            .run(async move { connect(&t).await.map(|_| ()) })
            .expect("ran");
        let Err(ConnectError::Unreachable(m)) = r else {
            panic!("expected unreachable, got {r:?}");
        };
        assert_eq!(
            m,
            format!("n3 (127.0.0.1:{port}): unreachable after 2 attempts: connection refused")
        );
    }

    #[test]
    fn a_missing_or_encrypted_key_file_is_named() {
        let e = load_key(Path::new("/nonexistent/id_ed25519")).unwrap_err();
        assert!(
            e.contains("cannot read key file /nonexistent/id_ed25519"),
            "{e}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let k = dir.path().join("k");
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "secret-pass", "-f"])
            .arg(&k)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            let e = load_key(&k).unwrap_err();
            assert!(e.contains("protected by a passphrase"), "{e}");
            assert!(!e.contains("secret-pass"), "{e}");
        }
    }

    #[test]
    fn the_runtime_runs_from_inside_another_runtime() {
        let ours = Rt::new().expect("runtime");
        let outer = tokio::runtime::Runtime::new().expect("outer");
        let o = ours.clone();
        let v = outer.block_on(async move {
            let a = o.run(async { 1 }).expect("from a task");
            let b = tokio::task::spawn_blocking(move || o.run(async { 2 }).expect("blocking"))
                .await
                .expect("joined");
            a + b
        });
        assert_eq!(v, 3);
        // Dropping the last handle inside a task must not panic.
        outer.block_on(async move { drop(ours) });
    }
}
