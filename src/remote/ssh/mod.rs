//! The ssh backend: nodes are hosts the cluster file lists (`ssh:`),
//! reached over SSH with [russh](https://docs.rs/russh) (pure Rust, async on
//! our tokio, every command a channel of one connection per host).
//!
//! Provisioning connects to every host in parallel, verifying host keys
//! against known_hosts ([`hostkey`]); checks that the host's architecture
//! is the harness's and that the login user is root (faults need iptables
//! and signals); installs `iptables` (and tries `faketime`) when missing;
//! uploads the harness's binary to `<dir>/bin/faultline-<sha256 prefix>`
//! unless it is already there. Node `nK` keeps its data, logs and pid files
//! under `<dir>/nK/`. Teardown and heal remove exactly what faultline
//! leaves on a host ([`cleanup_script`]): the processes it started (pid and
//! start time both match), the `FAULTLINE-*` iptables chains, the node's
//! faketime offset file and `<dir>/nK/`; the binary cache stays.

mod hostkey;
mod quote;
mod remote;
mod session;
mod spec;

pub use hostkey::{changed_message, unknown_message, verify as verify_host_key, Verdict};
pub use quote::{command_line, quote};
pub use remote::{signal_script, spawn_script, wait_script, SshRemote};
pub use session::{expand_home, ConnectError, Rt, Session, Target};
pub use spec::SshSpec;

use crate::remote::backend::{Backend, BackendConfig, BackendError, Provision};
use crate::remote::{faketime, Node, Remote, RemoteError};
use remote::locate_faketime_script;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What errors are prefixed with.
const CONTEXT: &str = "ssh backend";

/// The ssh backend (see the module documentation).
pub struct SshBackend {
    config: BackendConfig,
    rt: Option<Arc<Rt>>,
    /// The nodes of the live run, for teardown.
    live: Vec<Arc<SshRemote>>,
}

impl std::fmt::Debug for SshBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshBackend")
            .field("hosts", &self.config.ssh.as_ref().map(|s| &s.hosts))
            .field("live", &self.live.len())
            .finish()
    }
}

/// `host`, `host:port`, `[v6]:port` or a bare IPv6 address, as host and
/// port (`default` when none is given).
pub fn split_host(spec: &str, default: u16) -> Result<(String, u16), String> {
    let spec = spec.trim();
    let bad = || format!("{spec:?} is not HOST or HOST:PORT");
    if let Some(rest) = spec.strip_prefix('[') {
        let (host, tail) = rest.split_once(']').ok_or_else(bad)?;
        return match tail.strip_prefix(':') {
            Some(p) => Ok((host.to_string(), p.parse().map_err(|_| bad())?)),
            None if tail.is_empty() => Ok((host.to_string(), default)),
            None => Err(bad()),
        };
    }
    match spec.matches(':').count() {
        0 => Ok((spec.to_string(), default)),
        1 => {
            let (h, p) = spec.split_once(':').ok_or_else(bad)?;
            if h.is_empty() {
                return Err(bad());
            }
            Ok((h.to_string(), p.parse().map_err(|_| bad())?))
        }
        // A bare IPv6 address.
        _ => Ok((spec.to_string(), default)),
    }
}

/// The targets of `spec`'s hosts, node `n1` first.
pub fn targets(spec: &SshSpec) -> Result<Vec<Target>, String> {
    spec.hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let (host, port) =
                split_host(h, spec.port).map_err(|e| format!("ssh.hosts[{i}]: {e}"))?;
            Ok(Target {
                node: format!("n{}", i + 1),
                host,
                port,
                user: spec.user.clone(),
                key: spec.key.as_deref().map(expand_home),
                known_hosts: expand_home(&spec.known_hosts),
                accept_unknown: spec.accept_unknown_host_keys,
                connect_timeout: Duration::from_secs_f64(spec.connect_timeout.clamp(0.001, 3600.0)),
                retries: spec.retries.max(1),
            })
        })
        .collect()
}

/// The script that removes what faultline left for node `node` on a host
/// whose faultline directory is `dir`, printing one line per thing
/// removed: processes of `<dir>/<node>/pids/` whose start time still
/// matches (a reused pid is never hit), every `FAULTLINE-*` iptables chain
/// (unhooked, flushed, deleted), the node's faketime offset file, and
/// `<dir>/<node>/`. `iptables: false` leaves the chains alone.
pub fn cleanup_script(dir: &Path, node: &str, iptables: bool) -> String {
    let d = quote(&dir.join(node).to_string_lossy());
    let offset = quote(&faketime::offset_file(node).to_string_lossy());
    format!(
        r#"d={d}
killed=""
if [ -d "$d/pids" ]; then
  for f in "$d"/pids/*; do
    [ -f "$f" ] || continue
    read -r pid start < "$f" || continue
    case "$pid" in ''|*[!0-9]*) continue;; esac
    {START}
    if [ -n "$st" ] && [ "$st" = "$start" ]; then
      comm=$(cat "/proc/$pid/comm" 2>/dev/null)
      if kill -KILL "$pid" 2>/dev/null; then
        echo "killed process $pid ($comm)"
        killed="$killed $pid"
      fi
    fi
  done
fi
for pid in $killed; do
  i=0
  while [ $i -lt 200 ]; do
    {STATE}
    case "$s" in ''|Z|X) break;; esac
    sleep 0.01; i=$((i+1))
  done
done
if {iptables} && command -v iptables >/dev/null 2>&1; then
  chains=$(iptables -w -S 2>/dev/null | sed -n 's/^-N \(FAULTLINE-[A-Za-z0-9_.-]*\)$/\1/p')
  for c in $chains; do
    iptables -w -S 2>/dev/null | grep -E -- "^-A [^ ]+ .*-j $c( |\$)" | grep -v -- "^-A FAULTLINE-" \
      | sed 's/^-A /-D /' | while read -r rule; do eval "iptables -w $rule"; done
  done
  for c in $chains; do iptables -w -F "$c" 2>/dev/null; done
  for c in $chains; do iptables -w -X "$c" && echo "deleted iptables chain $c"; done
fi
if [ -e {offset} ]; then rm -f {offset} && echo "deleted file "{offset}; fi
if [ -d "$d" ]; then rm -rf "$d" && echo "deleted directory $d"; fi
exit 0
"#,
        START = remote::START_OF_PID,
        STATE = remote::STATE_OF_PID,
        iptables = if iptables { "true" } else { "false" },
    )
}

/// The script that reports what provisioning needs to know about a host,
/// one `key value` line each.
fn probe_script(binary: &Path, node_dir: &Path) -> String {
    format!(
        r#"echo "uid $(id -u)"
echo "user $(id -un)"
echo "arch $(uname -m)"
command -v iptables >/dev/null 2>&1 && echo "iptables yes"
command -v setsid >/dev/null 2>&1 && echo "setsid yes"
[ -x {bin} ] && echo "binary yes"
echo "faketime $({locate})"
for f in {pids}/*; do
  [ -f "$f" ] || continue
  read -r pid start < "$f" || continue
  {START}
  [ -n "$st" ] && [ "$st" = "$start" ] && echo "live $pid"
done
exit 0
"#,
        bin = quote(&binary.to_string_lossy()),
        locate = locate_faketime_script(),
        pids = quote(&node_dir.join("pids").to_string_lossy()),
        START = remote::START_OF_PID,
    )
}

/// The SHA-256 of a file, in hex.
fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A user-fixable failure, as the CLI maps it (exit 254).
fn host_err(msg: impl Into<String>) -> BackendError {
    BackendError::remote(CONTEXT, RemoteError::Host(msg.into()))
}

/// A connection failure: all of them are the user's to fix (network, host
/// keys, credentials).
fn connect_err(e: ConnectError) -> RemoteError {
    RemoteError::Host(e.to_string())
}

impl SshBackend {
    /// The backend `config` describes (its `ssh` section lists the hosts).
    pub fn new(config: &BackendConfig) -> Self {
        SshBackend {
            config: config.clone(),
            rt: None,
            live: Vec::new(),
        }
    }

    fn spec(&self) -> Result<&SshSpec, BackendError> {
        self.config.ssh.as_ref().ok_or_else(|| {
            host_err("backend ssh needs an ssh section listing the hosts (ssh: {hosts: [...]})")
        })
    }

    fn runtime(&mut self) -> Result<Arc<Rt>, RemoteError> {
        if let Some(rt) = &self.rt {
            return Ok(rt.clone());
        }
        let rt = Rt::new()
            .map_err(|e| RemoteError::Host(format!("cannot start the ssh runtime: {e}")))?;
        self.rt = Some(rt.clone());
        Ok(rt)
    }

    /// Connect to and prepare one node: checks, prerequisites, binary,
    /// directories. Returns the node.
    fn prepare(
        remote: &Arc<SshRemote>,
        dir: &Path,
        local_binary: &Path,
        remote_binary: &Path,
    ) -> Result<Node, BackendError> {
        let t = remote.session().target().clone();
        let label = t.label();
        {
            let s = remote.session().clone();
            let rt = remote.runtime().clone();
            match rt.run(async move { s.connect().await }) {
                Some(Ok(())) => {}
                Some(Err(e)) => return Err(BackendError::remote(CONTEXT, connect_err(e))),
                None => return Err(host_err(format!("{label}: the ssh runtime stopped"))),
            }
        }
        let node_dir = dir.join(&t.node);
        let probe = remote
            .sh_capture(&probe_script(remote_binary, &node_dir))
            .map_err(|e| BackendError::remote(CONTEXT, e))?;
        let facts: Vec<(&str, &str)> = probe
            .stdout
            .lines()
            .filter_map(|l| l.split_once(' '))
            .collect();
        let fact = |k: &str| {
            facts
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.trim())
        };
        if fact("uid") != Some("0") {
            return Err(host_err(format!(
                "{label}: logged in as {} (uid {}), not root: faults need root on the node \
                 (iptables, signals, installing packages); log in as root (ssh.user: root)",
                fact("user").unwrap_or(&t.user),
                fact("uid").unwrap_or("unknown"),
            )));
        }
        let arch = fact("arch").unwrap_or("unknown");
        if arch != std::env::consts::ARCH {
            return Err(host_err(format!(
                "{label}: the host is {arch} but this faultline is built for {}: its binary \
                 cannot run there (build faultline on or for {arch})",
                std::env::consts::ARCH
            )));
        }
        if fact("setsid").is_none() {
            return Err(host_err(format!(
                "{label}: setsid is missing (Debian: apt-get install util-linux)"
            )));
        }
        let live: Vec<&str> = facts
            .iter()
            .filter(|(k, _)| *k == "live")
            .map(|(_, v)| *v)
            .collect();
        if !live.is_empty() {
            return Err(host_err(format!(
                "{label}: process(es) {} of an earlier faultline run still run under {}: \
                 another run is live, or one was left running; `faultline heal --cluster FILE` \
                 removes them",
                live.join(", "),
                node_dir.display()
            )));
        }
        if fact("iptables").is_none() {
            remote.install(&["iptables"]).map_err(|e| {
                host_err(format!(
                    "{label}: iptables is missing and installing it failed: {e}"
                ))
            })?;
        }
        if fact("faketime").unwrap_or("").is_empty() {
            // Clock faults skip (with their reason) when this fails.
            let _ = remote.install(&["faketime"]);
        }
        if fact("binary").is_none() {
            remote
                .upload(local_binary, remote_binary)
                .map_err(|e| BackendError::remote(CONTEXT, e))?;
        }
        let data_dir = node_dir.join("data");
        let log_dir = node_dir.join("logs");
        remote
            .exec_ok(&[
                "mkdir",
                "-p",
                &data_dir.to_string_lossy(),
                &log_dir.to_string_lossy(),
                &node_dir.join("pids").to_string_lossy(),
            ])
            .map_err(|e| BackendError::remote(CONTEXT, e))?;
        Ok(Node {
            name: t.node.clone(),
            host: t.host.clone(),
            remote: remote.clone(),
            data_dir,
            log_dir,
            binary: Some(remote_binary.to_path_buf()),
        })
    }

    /// Run the cleanup of every node of `remotes` in parallel; returns the
    /// lines each printed (prefixed with the node) and the failures.
    fn cleanup(remotes: &[Arc<SshRemote>], dir: &Path) -> (Vec<String>, Vec<String>) {
        let results: Vec<Result<Vec<String>, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = remotes
                .iter()
                .map(|r| {
                    s.spawn(move || {
                        let label = r.session().target().label();
                        let out = r
                            .sh_capture(&cleanup_script(dir, r.node(), true))
                            .map_err(|e| e.to_string())?;
                        Ok(out
                            .stdout
                            .lines()
                            .filter(|l| !l.trim().is_empty())
                            .map(|l| format!("{label}: {l}"))
                            .collect())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("cleanup panicked".into())))
                .collect()
        });
        let mut lines = Vec::new();
        let mut errors = Vec::new();
        for r in results {
            match r {
                Ok(l) => lines.extend(l),
                Err(e) => errors.push(e),
            }
        }
        (lines, errors)
    }
}

impl Backend for SshBackend {
    fn name(&self) -> &str {
        "ssh"
    }

    /// One node per listed host.
    fn max_nodes(&self) -> Option<usize> {
        self.config.ssh.as_ref().map(|s| s.hosts.len())
    }

    fn provision(&mut self, req: &Provision<'_>) -> Result<Vec<Node>, BackendError> {
        let spec = self.spec()?.clone();
        let targets = targets(&spec).map_err(host_err)?;
        if req.names.len() > targets.len() {
            return Err(host_err(format!(
                "{} node(s) asked for but ssh.hosts lists {}",
                req.names.len(),
                targets.len()
            )));
        }
        let rt = self
            .runtime()
            .map_err(|e| BackendError::remote(CONTEXT, e))?;
        let hash = sha256_file(req.binary).map_err(|e| {
            host_err(format!(
                "cannot read the faultline binary {}: {e}",
                req.binary.display()
            ))
        })?;
        let remote_binary = spec
            .dir
            .join("bin")
            .join(format!("faultline-{}", &hash[..16]));
        let remotes: Vec<Arc<SshRemote>> = req
            .names
            .iter()
            .zip(targets)
            .map(|(name, mut t)| {
                crate::remote::allow_host(&t.host);
                t.node = name.clone();
                let pids = spec.dir.join(name).join("pids");
                Arc::new(SshRemote::new(name, Session::new(t), rt.clone(), pids))
            })
            .collect();
        let results: Vec<Result<Node, BackendError>> = std::thread::scope(|s| {
            let handles: Vec<_> = remotes
                .iter()
                .map(|r| {
                    let (dir, bin) = (&spec.dir, &remote_binary);
                    s.spawn(move || Self::prepare(r, dir, req.binary, bin))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(host_err("preparing a node panicked")))
                })
                .collect()
        });
        let mut nodes = Vec::new();
        let mut first_err = None;
        let mut prepared = Vec::new();
        for (r, res) in remotes.iter().zip(results) {
            match res {
                Ok(n) => {
                    prepared.push(r.clone());
                    nodes.push(n);
                }
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        if let Some(e) = first_err {
            // Leave nothing: the node directories made, and the sessions.
            let _ = Self::cleanup(&prepared, &spec.dir);
            for r in &remotes {
                r.close();
            }
            return Err(e);
        }
        self.live = remotes;
        Ok(nodes)
    }

    /// Kills what is left of the pid files, removes the `FAULTLINE-*`
    /// chains, the offset files and `<dir>/<node>/`, keeps `<dir>/bin/`,
    /// closes the sessions. Idempotent.
    fn teardown(&mut self) -> Result<(), RemoteError> {
        let live = std::mem::take(&mut self.live);
        if live.is_empty() {
            return Ok(());
        }
        let dir = self
            .config
            .ssh
            .as_ref()
            .map(|s| s.dir.clone())
            .unwrap_or_else(|| PathBuf::from("/var/lib/faultline"));
        let (_, errors) = Self::cleanup(&live, &dir);
        for r in &live {
            r.close();
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(RemoteError::Host(format!(
                "cleaning the hosts failed: {}; `faultline heal --cluster FILE` retries",
                errors.join("; ")
            )))
        }
    }

    /// Closes the sessions; everything stays on the hosts.
    fn leave(&mut self) {
        for r in std::mem::take(&mut self.live) {
            r.close();
        }
    }

    /// With an `ssh` section: connects to every host and removes what
    /// teardown removes, one line per thing removed. Without one (plain
    /// `faultline heal`): nothing, as no hosts are known.
    fn heal(&self) -> Result<String, RemoteError> {
        let Some(spec) = self.config.ssh.as_ref() else {
            return Ok(String::new());
        };
        let targets = targets(spec).map_err(RemoteError::Host)?;
        let rt = Rt::new()
            .map_err(|e| RemoteError::Host(format!("cannot start the ssh runtime: {e}")))?;
        let remotes: Vec<Arc<SshRemote>> = targets
            .into_iter()
            .map(|t| {
                crate::remote::allow_host(&t.host);
                let name = t.node.clone();
                let pids = spec.dir.join(&name).join("pids");
                Arc::new(SshRemote::new(&name, Session::new(t), rt.clone(), pids))
            })
            .collect();
        let (lines, errors) = Self::cleanup(&remotes, &spec.dir);
        for r in &remotes {
            r.close();
        }
        let mut text = String::new();
        for l in &lines {
            text.push_str(l);
            text.push('\n');
        }
        if !errors.is_empty() {
            return Err(RemoteError::Host(format!(
                "{text}ssh heal could not clean every host: {}",
                errors.join("; ")
            )));
        }
        if lines.is_empty() {
            text = format!(
                "nothing to heal on the {} ssh host(s): no faultline process, chain or file left\n",
                remotes.len()
            );
        }
        Ok(text)
    }
}

impl Drop for SshBackend {
    fn drop(&mut self) {
        for r in &self.live {
            r.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_split_into_host_and_port() {
        assert_eq!(split_host("10.0.0.1", 22), Ok(("10.0.0.1".into(), 22)));
        assert_eq!(split_host("h:2222", 22), Ok(("h".into(), 2222)));
        assert_eq!(split_host("[::1]:2200", 22), Ok(("::1".into(), 2200)));
        assert_eq!(split_host("[::1]", 22), Ok(("::1".into(), 22)));
        assert_eq!(split_host("fe80::1", 22), Ok(("fe80::1".into(), 22)));
        assert!(split_host("h:port", 22).is_err());
        assert!(split_host(":22", 22).is_err());
    }

    #[test]
    fn without_a_section_heal_is_empty_and_provision_names_the_section() {
        let be = SshBackend::new(&BackendConfig::named("ssh"));
        assert_eq!(be.heal().ok(), Some(String::new()));
        let mut be = SshBackend::new(&BackendConfig::named("ssh"));
        let names = ["n1".to_string()];
        let e = be
            .provision(&Provision {
                names: &names,
                work_dir: Path::new("/tmp/w"),
                binary: Path::new("/bin/true"),
            })
            .unwrap_err();
        assert!(e.is_user_fixable());
        assert!(e.to_string().contains("ssh section"), "{e}");
    }

    #[test]
    fn an_unreachable_host_is_the_users_to_fix_naming_node_and_host() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let config = BackendConfig {
            name: "ssh".into(),
            ssh: Some(SshSpec {
                hosts: vec![format!("127.0.0.1:{port}")],
                retries: 2,
                connect_timeout: 1.0,
                ..SshSpec::default()
            }),
            ..BackendConfig::default()
        };
        let mut be = SshBackend::new(&config);
        let names = ["n1".to_string()];
        let e = be
            .provision(&Provision {
                names: &names,
                work_dir: Path::new("/tmp/w"),
                binary: Path::new("/bin/true"),
            })
            .unwrap_err();
        assert!(e.is_user_fixable(), "{e}");
        assert_eq!(
            e.to_string(),
            format!("ssh backend: n1 (127.0.0.1:{port}): unreachable after 2 attempts: connection refused")
        );
        assert!(be.teardown().is_ok());
    }

    #[test]
    fn cleanup_kills_only_recorded_processes_whose_start_time_matches() {
        // The process and file half of the cleanup script, on this machine
        // (iptables is left alone: no FAULTLINE chain exists here).
        let dir = tempfile::tempdir().expect("tempdir");
        let pids = dir.path().join("n9").join("pids");
        let daemon = crate::remote::DaemonSpec {
            argv: vec!["sleep".into(), "30".into()],
            env: vec![],
            cwd: dir.path().join("n9/data"),
            log_file: dir.path().join("n9/logs/x.log"),
        };
        let run = |s: &str| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(s)
                .output()
                .expect("sh")
        };
        let out = run(&spawn_script(&daemon, &pids));
        let ours: u32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("pid");
        let out = run(&spawn_script(&daemon, &pids));
        let reused: u32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("pid");
        // Pretend `reused` is a pid that came back for another process: its
        // recorded start time no longer matches.
        std::fs::write(pids.join(reused.to_string()), format!("{reused} 1\n")).expect("write");
        let out = run(&cleanup_script(dir.path(), "n9", false));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("killed process {ours} (sleep)")),
            "{text}"
        );
        assert!(
            !text.contains(&format!("killed process {reused}")),
            "{text}"
        );
        assert!(text.contains("deleted directory"), "{text}");
        assert!(!dir.path().join("n9").exists());
        let alive = |p: u32| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .map(|s| !s.contains(") Z"))
                .unwrap_or(false)
        };
        assert!(!alive(ours));
        assert!(alive(reused));
        let _ = run(&format!("kill -9 {reused}"));
        // A second run finds nothing.
        let out = run(&cleanup_script(dir.path(), "n9", false));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "");
    }
}
