//! The local backend: every node is a Linux network namespace on this machine.
//!
//! [`LocalNet::create`] builds a bridge `faultline0` (10.213.7.1/24), and for
//! the node at position `i` (1-based) a namespace `faultline-<name>` holding
//! the address `10.213.7.(10+i)` on `eth0`, plugged into the bridge by a veth
//! pair whose host end is `faultline-h<last octet>`. The namespaces have no
//! default route, so a node can reach only its peers and the harness
//! (10.213.7.1): a real network on which iptables partitions are real
//! partitions. Docker sets the host's FORWARD policy to DROP and bridged
//! traffic passes that chain (`bridge-nf-call-iptables`), so `create` inserts
//! one rule of its own, tagged with the comment `faultline`, and `destroy`
//! deletes exactly that rule: the policy and other rules are never touched.
//!
//! Everything the backend creates carries the faultline prefix, so
//! [`heal_all`] (`faultline heal`) can remove whatever a killed run left —
//! namespaces, the processes inside them, the bridge and veths, the tagged
//! FORWARD rules, the faketime offset files under [`RUN_DIR`] — and nothing
//! else. One run at a time owns the network: [`LocalNet`] holds an exclusive
//! `flock` on `RUN_DIR/lock` for its lifetime.
//!
//! [`LocalRemote`] is the [`Remote`] for one namespace: commands run through
//! `ip netns exec`, daemons are started with `setsid` and kept as children so
//! they can be reaped after SIGKILL, and signals go through kill(2) only to
//! processes that really live in the node's namespace.

use super::{DaemonSpec, ExecOutput, Remote, RemoteError, Signal};
use crate::remote::Node;
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bridge every namespace is plugged into.
pub const BRIDGE: &str = "faultline0";
/// The harness's own address on the bridge.
pub const BRIDGE_ADDR: &str = "10.213.7.1";
/// Prefix of every namespace the backend creates.
pub const NETNS_PREFIX: &str = "faultline-";
/// Prefix of the host ends of the veth pairs.
pub const VETH_PREFIX: &str = "faultline-h";
/// The comment that tags the FORWARD rule (and nothing else).
pub const RULE_COMMENT: &str = "faultline";
/// Runtime directory: the run lock and the faketime offset files.
pub const RUN_DIR: &str = "/run/faultline";
/// How many nodes fit in 10.213.7.11 ..= 10.213.7.254.
pub const MAX_NODES: usize = 244;

/// Where libfaketime lives on Debian-like systems, by architecture.
const LIBFAKETIME_CANDIDATES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/lib64/faketime/libfaketime.so.1",
];

/// The namespace of a node.
pub fn netns_name(node: &str) -> String {
    format!("{NETNS_PREFIX}{node}")
}

/// The address of the node at 1-based position `i`: `10.213.7.(10+i)`.
pub fn node_addr(i: usize) -> String {
    format!("10.213.7.{}", 10 + i)
}

/// The directory holding the faketime offset files, one per node.
pub fn faketime_dir() -> PathBuf {
    Path::new(RUN_DIR).join("faketime")
}

/// The faketime offset file of a node (`+0`, `+1.5s`, `-250ms`...).
pub fn faketime_file(node: &str) -> PathBuf {
    faketime_dir().join(node)
}

/// The installed libfaketime, if any.
pub fn libfaketime_path() -> Option<PathBuf> {
    LIBFAKETIME_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn host_err(msg: impl Into<String>) -> RemoteError {
    RemoteError::Host(msg.into())
}

/// Run a command on the host; output whatever the status.
fn host_exec(argv: &[&str]) -> Result<ExecOutput, RemoteError> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| RemoteError::Spawn {
            node: "localhost".into(),
            cmd: argv.join(" "),
            source: e,
        })?;
    Ok(ExecOutput {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Run a command on the host and require success.
fn host_ok(argv: &[&str]) -> Result<ExecOutput, RemoteError> {
    let out = host_exec(argv)?;
    if out.success() {
        Ok(out)
    } else {
        Err(RemoteError::Failed {
            node: "localhost".into(),
            cmd: argv.join(" "),
            status: out.status,
            stderr: out.stderr.trim().to_string(),
        })
    }
}

fn is_root() -> bool {
    // /proc/self is owned by the effective uid (this avoids enabling nix's
    // `user` feature for one call).
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn require_root() -> Result<(), RemoteError> {
    if is_root() {
        Ok(())
    } else {
        Err(host_err(
            "the local backend needs root (it creates network namespaces, a bridge and \
             iptables rules): run faultline as root, e.g. `sudo faultline ...`",
        ))
    }
}

fn have_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
        || ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(name).is_file())
}

/// Check that the local backend can run: root, `ip` (iproute2), `iptables`
/// and libfaketime. With `install`, missing packages are installed with
/// apt-get when it exists; otherwise the error names what to install.
pub fn ensure_prerequisites(install: bool) -> Result<(), RemoteError> {
    require_root()?;
    let missing = || {
        let mut m = Vec::new();
        if !have_program("ip") {
            m.push("iproute2");
        }
        if !have_program("iptables") {
            m.push("iptables");
        }
        if libfaketime_path().is_none() {
            m.push("faketime");
        }
        m
    };
    let first = missing();
    if first.is_empty() {
        return Ok(());
    }
    let names = first.join(" ");
    if !install {
        return Err(host_err(format!(
            "missing prerequisites: install the packages `{names}` (Debian/Ubuntu: \
             `apt-get install {names}`)"
        )));
    }
    if !have_program("apt-get") {
        return Err(host_err(format!(
            "missing prerequisites and no apt-get to install them: install the packages \
             `{names}` (iproute2, iptables, libfaketime) with this system's package manager"
        )));
    }
    host_ok(&["apt-get", "update", "-qq"])?;
    let mut argv = vec!["apt-get", "install", "-y", "-qq"];
    argv.extend(first.iter().copied());
    host_ok(&argv)?;
    let still = missing();
    if still.is_empty() {
        Ok(())
    } else {
        Err(host_err(format!(
            "apt-get ran but these are still missing: {}",
            still.join(" ")
        )))
    }
}

/// Validate a node name: it becomes part of a namespace and a file name.
fn check_node_name(name: &str) -> Result<(), RemoteError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with('.')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(host_err(format!(
            "node name {name:?} is not usable for a namespace: use 1 to 40 letters, digits, \
             '-', '_' or '.', not starting with '-' or '.'"
        )))
    }
}

/// The (device, inode) of a namespace file, to compare namespaces.
fn ns_id(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// True when process `pid` lives in network namespace `netns`.
fn pid_in_netns(pid: u32, netns: &str) -> bool {
    match (
        ns_id(&PathBuf::from(format!("/proc/{pid}/ns/net"))),
        ns_id(&Path::new("/run/netns").join(netns)),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The state letter of a process (`R`, `S`, `T`, `Z`...), if it exists.
pub fn process_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().next()?.chars().next()
}

fn to_nix(sig: Signal) -> nix::sys::signal::Signal {
    use nix::sys::signal::Signal as S;
    match sig {
        Signal::Kill => S::SIGKILL,
        Signal::Term => S::SIGTERM,
        Signal::Stop => S::SIGSTOP,
        Signal::Cont => S::SIGCONT,
    }
}

/// The [`Remote`] of one node of a [`LocalNet`]: its network namespace.
pub struct LocalRemote {
    name: String,
    netns: String,
    /// Daemons spawned here, kept so that a killed one can be reaped.
    children: Mutex<HashMap<u32, Child>>,
}

impl fmt::Debug for LocalRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRemote")
            .field("name", &self.name)
            .field("netns", &self.netns)
            .finish()
    }
}

impl LocalRemote {
    /// The remote of node `name`, namespace `faultline-<name>` (which must
    /// exist for commands to work).
    pub fn new(name: &str) -> Self {
        LocalRemote {
            name: name.to_string(),
            netns: netns_name(name),
            children: Mutex::new(HashMap::new()),
        }
    }

    /// The namespace this remote runs commands in.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    fn children(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Child>> {
        // A panic while holding the lock leaves a usable map behind.
        crate::sync::lock(&self.children)
    }

    /// Reap `pid` if it is our child and has exited; true when it is gone.
    fn try_reap(&self, pid: u32) -> Option<bool> {
        let mut children = self.children();
        let child = children.get_mut(&pid)?;
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => {
                children.remove(&pid);
                Some(true)
            }
            Ok(None) => Some(false),
        }
    }

    /// SIGKILL every daemon spawned here and reap it.
    pub fn kill_all(&self) {
        let mut children = self.children();
        for (_, mut child) in children.drain() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn io_err(&self, source: std::io::Error) -> RemoteError {
        RemoteError::Io {
            node: self.name.clone(),
            source,
        }
    }
}

impl Remote for LocalRemote {
    fn node(&self) -> &str {
        &self.name
    }

    fn exec(&self, argv: &[&str]) -> Result<ExecOutput, RemoteError> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .args(argv)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| RemoteError::Spawn {
                node: self.name.clone(),
                cmd: argv.join(" "),
                source: e,
            })?;
        Ok(ExecOutput {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Copies through a temporary sibling and a rename, so a reader (such as
    /// libfaketime re-reading its offset file) never sees a half-written file.
    fn upload(&self, local: &Path, remote: &Path) -> Result<(), RemoteError> {
        if let Some(dir) = remote.parent() {
            fs::create_dir_all(dir).map_err(|e| self.io_err(e))?;
        }
        let mut tmp = remote.as_os_str().to_owned();
        tmp.push(".faultline-tmp");
        let tmp = PathBuf::from(tmp);
        fs::copy(local, &tmp).map_err(|e| self.io_err(e))?;
        fs::rename(&tmp, remote).map_err(|e| self.io_err(e))
    }

    fn download(&self, remote: &Path, local: &Path) -> Result<(), RemoteError> {
        if let Some(dir) = local.parent() {
            fs::create_dir_all(dir).map_err(|e| self.io_err(e))?;
        }
        fs::copy(remote, local)
            .map(|_| ())
            .map_err(|e| self.io_err(e))
    }

    fn spawn(&self, daemon: &DaemonSpec) -> Result<u32, RemoteError> {
        let cmd = daemon.argv.join(" ");
        if daemon.argv.is_empty() {
            return Err(RemoteError::Failed {
                node: self.name.clone(),
                cmd,
                status: -1,
                stderr: "empty command line".into(),
            });
        }
        if let Some(dir) = daemon.log_file.parent() {
            fs::create_dir_all(dir).map_err(|e| self.io_err(e))?;
        }
        fs::create_dir_all(&daemon.cwd).map_err(|e| self.io_err(e))?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&daemon.log_file)
            .map_err(|e| self.io_err(e))?;
        let log2 = log.try_clone().map_err(|e| self.io_err(e))?;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.netns])
            .args(&daemon.argv)
            .envs(daemon.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&daemon.cwd)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        // SAFETY: setsid is async-signal-safe; between fork and exec we call
        // nothing else. A new session detaches the daemon from our terminal
        // and process group, so a Ctrl-C aimed at faultline does not hit it.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        let child = command.spawn().map_err(|e| RemoteError::Spawn {
            node: self.name.clone(),
            cmd,
            source: e,
        })?;
        // `ip netns exec` execs the program in place: the pid is the daemon's.
        let pid = child.id();
        self.children().insert(pid, child);
        Ok(pid)
    }

    /// Sends only to a process of this node's namespace (or a child of ours
    /// that was spawned here), so a reused pid elsewhere is never hit. A
    /// SIGKILL or SIGTERM to a process already gone succeeds: the goal holds.
    fn signal(&self, pid: u32, signal: Signal) -> Result<(), RemoteError> {
        let gone_ok = matches!(signal, Signal::Kill | Signal::Term);
        if self.try_reap(pid) == Some(true) {
            return if gone_ok {
                Ok(())
            } else {
                Err(RemoteError::Failed {
                    node: self.name.clone(),
                    cmd: format!("kill -{signal:?} {pid}"),
                    status: -1,
                    stderr: "the process has exited".into(),
                })
            };
        }
        let ours = self.children().contains_key(&pid);
        if !ours && !pid_in_netns(pid, &self.netns) {
            return if gone_ok && process_state(pid).is_none() {
                Ok(())
            } else {
                Err(RemoteError::Failed {
                    node: self.name.clone(),
                    cmd: format!("kill -{signal:?} {pid}"),
                    status: -1,
                    stderr: format!("pid {pid} is not a process of namespace {}", self.netns),
                })
            };
        }
        let raw = i32::try_from(pid).map_err(|_| RemoteError::Failed {
            node: self.name.clone(),
            cmd: format!("kill {pid}"),
            status: -1,
            stderr: "pid out of range".into(),
        })?;
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), to_nix(signal)) {
            Ok(()) => {
                // Signals are delivered asynchronously: wait (briefly) until a
                // pause or resume is in effect, so that the op that reports
                // it is true when it completes.
                let want_stopped = match signal {
                    Signal::Stop => Some(true),
                    Signal::Cont => Some(false),
                    _ => None,
                };
                if let Some(stopped) = want_stopped {
                    let deadline = Instant::now() + Duration::from_secs(1);
                    while Instant::now() < deadline {
                        match process_state(pid) {
                            Some('T') | Some('t') if stopped => break,
                            Some(s) if !stopped && s != 'T' && s != 't' => break,
                            None => break,
                            _ => std::thread::sleep(Duration::from_millis(2)),
                        }
                    }
                }
                Ok(())
            }
            Err(nix::errno::Errno::ESRCH) if gone_ok => Ok(()),
            Err(e) => Err(RemoteError::Failed {
                node: self.name.clone(),
                cmd: format!("kill -{signal:?} {pid}"),
                status: -1,
                stderr: e.to_string(),
            }),
        }
    }

    fn wait_exit(&self, pid: u32, timeout: Duration) -> Result<bool, RemoteError> {
        let deadline = Instant::now() + timeout;
        loop {
            let gone = match self.try_reap(pid) {
                Some(gone) => gone,
                // Not our child: gone when /proc has no live process.
                None => matches!(process_state(pid), None | Some('Z') | Some('X')),
            };
            if gone {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for LocalRemote {
    fn drop(&mut self) {
        // Reap what already exited; running daemons are left to their
        // owner (teardown or `faultline heal`).
        let mut children = self.children();
        children.retain(|_, c| matches!(c.try_wait(), Ok(None)));
    }
}

/// What [`heal_all`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HealReport {
    /// Processes killed, as `pid (command) in namespace`.
    pub processes: Vec<String>,
    /// Network namespaces deleted.
    pub namespaces: Vec<String>,
    /// Links deleted (bridge, veth host ends).
    pub links: Vec<String>,
    /// FORWARD rules deleted, as `iptables -S` prints them.
    pub rules: Vec<String>,
    /// Files deleted (faketime offsets).
    pub files: Vec<String>,
}

impl HealReport {
    /// True when nothing had to be removed.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
            && self.namespaces.is_empty()
            && self.links.is_empty()
            && self.rules.is_empty()
            && self.files.is_empty()
    }
}

impl fmt::Display for HealReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(
                f,
                "nothing to heal: no faultline namespace, link, rule, process or file left"
            );
        }
        for (what, items) in [
            ("killed process", &self.processes),
            ("deleted namespace", &self.namespaces),
            ("deleted link", &self.links),
            ("deleted rule", &self.rules),
            ("deleted file", &self.files),
        ] {
            for item in items {
                writeln!(f, "{what} {item}")?;
            }
        }
        Ok(())
    }
}

/// The faultline namespaces that exist now.
fn faultline_namespaces() -> Result<Vec<String>, RemoteError> {
    let out = host_ok(&["ip", "netns", "list"])?;
    Ok(out
        .stdout
        .lines()
        // Lines look like `faultline-n1 (id: 3)`.
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(NETNS_PREFIX))
        .map(str::to_string)
        .collect())
}

/// The faultline links on the host (bridge and veth host ends).
fn faultline_links() -> Result<Vec<String>, RemoteError> {
    let out = host_ok(&["ip", "-o", "link", "show"])?;
    Ok(out
        .stdout
        .lines()
        // `7: faultline-h11@if2: <...>`
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n == BRIDGE || n.starts_with(VETH_PREFIX))
        .collect())
}

/// The FORWARD rules carrying exactly our comment, as `iptables -S` prints.
fn faultline_forward_rules() -> Result<Vec<String>, RemoteError> {
    if !have_program("iptables") {
        return Ok(Vec::new());
    }
    let out = host_ok(&["iptables", "-w", "-S", "FORWARD"])?;
    Ok(tagged_rules(&out.stdout))
}

/// The `-A FORWARD` lines of `iptables -S` output whose comment is exactly
/// ours (not merely containing it).
fn tagged_rules(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter(|l| l.starts_with("-A FORWARD "))
        .filter(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.windows(2).any(|w| {
                w[0] == "--comment"
                    && (w[1] == RULE_COMMENT || w[1] == format!("\"{RULE_COMMENT}\""))
            })
        })
        .map(str::to_string)
        .collect()
}

/// Kill every process in namespace `netns`; returns what was killed.
fn kill_namespace_processes(netns: &str) -> Vec<String> {
    let mut killed = Vec::new();
    let Ok(out) = host_exec(&["ip", "netns", "pids", netns]) else {
        return killed;
    };
    let pids: Vec<u32> = out
        .stdout
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    for &pid in &pids {
        // Re-check membership right before the signal: only namespace members.
        if !pid_in_netns(pid, netns) {
            continue;
        }
        let comm = fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim().to_string())
            .unwrap_or_default();
        if let Ok(raw) = i32::try_from(pid) {
            if nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(raw),
                nix::sys::signal::Signal::SIGKILL,
            )
            .is_ok()
            {
                killed.push(format!("{pid} ({comm}) in {netns}"));
            }
        }
    }
    // Give the kernel a moment so the namespace is really empty.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline
        && pids
            .iter()
            .any(|&p| !matches!(process_state(p), None | Some('Z') | Some('X')))
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    killed
}

/// Remove whatever is named faultline: processes in faultline namespaces,
/// the namespaces, the bridge and veths, the tagged FORWARD rules and the
/// faketime offset files. Returns what was removed.
fn heal_unlocked(only: Option<&[String]>) -> Result<HealReport, RemoteError> {
    let mut report = HealReport::default();
    let mut errors = Vec::new();
    let namespaces: Vec<String> = match only {
        None => faultline_namespaces()?,
        Some(names) => {
            let existing = faultline_namespaces()?;
            names
                .iter()
                .map(|n| netns_name(n))
                .filter(|n| existing.contains(n))
                .collect()
        }
    };
    for ns in &namespaces {
        report.processes.extend(kill_namespace_processes(ns));
        match host_ok(&["ip", "netns", "del", ns]) {
            Ok(_) => report.namespaces.push(ns.clone()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    for link in faultline_links()? {
        // A veth end vanishes with its namespace; only delete what is left.
        let out = host_exec(&["ip", "link", "del", &link])?;
        if out.success() {
            report.links.push(link);
        } else if faultline_links()?.contains(&link) {
            errors.push(format!("ip link del {link}: {}", out.stderr.trim()));
        }
    }
    for rule in faultline_forward_rules()? {
        let mut argv: Vec<String> = vec!["iptables".into(), "-w".into()];
        let body = rule.trim_start_matches("-A FORWARD ");
        argv.push("-D".into());
        argv.push("FORWARD".into());
        argv.extend(
            body.split_whitespace()
                .map(|w| w.trim_matches('"').to_string()),
        );
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        match host_ok(&argv) {
            Ok(_) => report.rules.push(rule),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let dir = faketime_dir();
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let wanted = match only {
                None => true,
                Some(names) => {
                    let file = entry.file_name().to_string_lossy().into_owned();
                    names
                        .iter()
                        .any(|n| file == *n || file.starts_with(&format!("{n}.")))
                }
            };
            if wanted && path.is_file() {
                match fs::remove_file(&path) {
                    Ok(()) => report.files.push(path.display().to_string()),
                    Err(e) => errors.push(format!("{}: {e}", path.display())),
                }
            }
        }
        let _ = fs::remove_dir(&dir);
    }
    if errors.is_empty() {
        Ok(report)
    } else {
        Err(host_err(format!(
            "heal removed {} item(s) but failed on: {}",
            report.processes.len()
                + report.namespaces.len()
                + report.links.len()
                + report.rules.len()
                + report.files.len(),
            errors.join("; ")
        )))
    }
}

/// The run lock: one faultline run owns the network at a time.
struct RunLock {
    _file: nix::fcntl::Flock<File>,
}

fn lock_path() -> PathBuf {
    Path::new(RUN_DIR).join("lock")
}

impl RunLock {
    fn try_acquire() -> Result<Option<RunLock>, RemoteError> {
        fs::create_dir_all(RUN_DIR).map_err(|e| host_err(format!("{RUN_DIR}: {e}")))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path())
            .map_err(|e| host_err(format!("{}: {e}", lock_path().display())))?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(RunLock { _file: lock })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(host_err(format!("{}: flock: {e}", lock_path().display()))),
        }
    }

    fn acquire(wait: Duration) -> Result<RunLock, RemoteError> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(lock) = Self::try_acquire()? {
                return Ok(lock);
            }
            if Instant::now() >= deadline {
                return Err(host_err(format!(
                    "another faultline run holds {} (it owns bridge {BRIDGE}); wait for it \
                     to finish or stop it",
                    lock_path().display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Remove whatever a killed faultline run left on this machine (and only
/// that): see the module docs. Refuses while a live run holds the lock.
pub fn heal_all() -> Result<HealReport, RemoteError> {
    require_root()?;
    let Some(_lock) = RunLock::try_acquire()? else {
        return Err(host_err(format!(
            "a faultline run is in progress (it holds {}); stop it first, it heals on exit",
            lock_path().display()
        )));
    };
    heal_unlocked(None)
}

/// The local network of one run: a bridge and one namespace per node.
/// Dropping it destroys it (unless [`LocalNet::leave`] was called).
pub struct LocalNet {
    names: Vec<String>,
    remotes: Vec<Arc<LocalRemote>>,
    leftovers: HealReport,
    lock: Option<RunLock>,
}

impl fmt::Debug for LocalNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalNet")
            .field("names", &self.names)
            .finish()
    }
}

impl LocalNet {
    /// Build the network for nodes `names` (see the module docs); node data
    /// and logs go under `work_dir/nodes/<name>/`. Waits up to 30 s for
    /// another run to release the lock; removes what a killed run left (see
    /// [`LocalNet::leftovers`]). On failure, removes what it created.
    pub fn create(names: &[String], work_dir: &Path) -> Result<(LocalNet, Vec<Node>), RemoteError> {
        require_root()?;
        if names.is_empty() {
            return Err(host_err("a local cluster needs at least one node"));
        }
        if names.len() > MAX_NODES {
            return Err(host_err(format!(
                "{} nodes requested; the local backend fits at most {MAX_NODES}",
                names.len()
            )));
        }
        for (i, n) in names.iter().enumerate() {
            check_node_name(n)?;
            if names[..i].contains(n) {
                return Err(host_err(format!("node name {n:?} appears twice")));
            }
        }
        if !have_program("iptables") {
            return Err(host_err(
                "iptables is not installed: install the package `iptables` (or run with \
                 prerequisites installation enabled)",
            ));
        }
        let lock = RunLock::acquire(Duration::from_secs(30))?;
        let leftovers = heal_unlocked(None)?;
        let mut net = LocalNet {
            names: names.to_vec(),
            remotes: names
                .iter()
                .map(|n| Arc::new(LocalRemote::new(n)))
                .collect(),
            leftovers,
            lock: Some(lock),
        };
        match net.build(work_dir) {
            Ok(nodes) => Ok((net, nodes)),
            Err(e) => {
                let _ = net.destroy();
                Err(e)
            }
        }
    }

    fn build(&mut self, work_dir: &Path) -> Result<Vec<Node>, RemoteError> {
        host_ok(&["ip", "link", "add", BRIDGE, "type", "bridge"])?;
        host_ok(&[
            "ip",
            "addr",
            "add",
            &format!("{BRIDGE_ADDR}/24"),
            "dev",
            BRIDGE,
        ])?;
        host_ok(&["ip", "link", "set", BRIDGE, "up"])?;
        host_ok(&[
            "iptables",
            "-w",
            "-I",
            "FORWARD",
            "-i",
            BRIDGE,
            "-o",
            BRIDGE,
            "-m",
            "comment",
            "--comment",
            RULE_COMMENT,
            "-j",
            "ACCEPT",
        ])?;
        let mut nodes = Vec::new();
        for (i, name) in self.names.iter().enumerate() {
            let pos = i + 1;
            let ns = netns_name(name);
            let addr = node_addr(pos);
            let veth = format!("{VETH_PREFIX}{}", 10 + pos);
            host_ok(&["ip", "netns", "add", &ns])?;
            host_ok(&[
                "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            host_ok(&["ip", "link", "set", &veth, "master", BRIDGE, "up"])?;
            let remote = &self.remotes[i];
            remote.exec_ok(&["ip", "link", "set", "lo", "up"])?;
            remote.exec_ok(&["ip", "addr", "add", &format!("{addr}/24"), "dev", "eth0"])?;
            remote.exec_ok(&["ip", "link", "set", "eth0", "up"])?;
            let dir = work_dir.join("nodes").join(name);
            let data_dir = dir.join("data");
            fs::create_dir_all(&data_dir).map_err(|e| RemoteError::Io {
                node: name.clone(),
                source: e,
            })?;
            nodes.push(Node {
                name: name.clone(),
                host: addr,
                remote: remote.clone(),
                data_dir,
                log_dir: dir,
            });
        }
        Ok(nodes)
    }

    /// What a killed earlier run had left and `create` removed.
    pub fn leftovers(&self) -> &HealReport {
        &self.leftovers
    }

    /// The remote of each node, in order.
    pub fn remotes(&self) -> &[Arc<LocalRemote>] {
        &self.remotes
    }

    /// Remove this network: kill the daemons, delete the namespaces (which
    /// takes the veths along), the bridge, our FORWARD rule and the nodes'
    /// faketime files. Idempotent.
    pub fn destroy(&self) -> Result<HealReport, RemoteError> {
        for r in &self.remotes {
            r.kill_all();
        }
        // We hold the run lock, so every faultline link and rule is ours.
        heal_unlocked(Some(&self.names))
    }

    /// Forget this network without removing it, as a run with
    /// `--leave-db-running` does (and as a crash would): the namespaces,
    /// processes and rules stay until `faultline heal` or the next run.
    pub fn leave(mut self) {
        // With no names, Drop removes nothing; dropping the lock lets the
        // next run (or `faultline heal`) in.
        self.names.clear();
        self.remotes.clear();
        self.lock = None;
    }
}

impl Drop for LocalNet {
    fn drop(&mut self) {
        if !self.names.is_empty() {
            let _ = self.destroy();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_contract() {
        assert_eq!(node_addr(1), "10.213.7.11");
        assert_eq!(node_addr(5), "10.213.7.15");
        assert_eq!(netns_name("n1"), "faultline-n1");
    }

    #[test]
    fn node_names_that_break_paths_are_rejected() {
        assert!(check_node_name("n1").is_ok());
        assert!(check_node_name("node_2.a-b").is_ok());
        for bad in ["", "../x", "a b", "-x", ".x", "a/b", &"x".repeat(41)] {
            assert!(check_node_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn process_state_reads_our_own_process() {
        let me = std::process::id();
        assert!(matches!(process_state(me), Some('R') | Some('S')));
        assert_eq!(process_state(u32::MAX), None);
    }

    #[test]
    fn only_rules_tagged_exactly_faultline_are_ours() {
        let listing = "-P FORWARD DROP\n\
            -A FORWARD -j DOCKER-USER\n\
            -A FORWARD -i faultline0 -o faultline0 -m comment --comment faultline -j ACCEPT\n\
            -A FORWARD -i x -m comment --comment \"faultline\" -j ACCEPT\n\
            -A FORWARD -i y -m comment --comment faultline-user -j ACCEPT\n\
            -A FORWARD -i z -m comment --comment notfaultline -j ACCEPT\n\
            -A FORWARD -i faultline0 -j ACCEPT\n";
        let ours = tagged_rules(listing);
        assert_eq!(ours.len(), 2, "{ours:?}");
        assert!(ours[0].contains("-i faultline0 -o faultline0"));
        assert!(ours[1].contains("-i x "));
    }

    #[test]
    fn empty_report_says_nothing_to_heal() {
        let r = HealReport::default();
        assert!(r.is_empty());
        assert!(r.to_string().contains("nothing to heal"));
        let r = HealReport {
            namespaces: vec!["faultline-n1".into()],
            ..Default::default()
        };
        assert!(r.to_string().contains("deleted namespace faultline-n1"));
    }
}
