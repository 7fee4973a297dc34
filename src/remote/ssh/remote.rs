//! [`SshRemote`]: the [`Remote`] of one node of the ssh backend. Every
//! command is one channel on the node's [`Session`]; daemons are started
//! with `setsid` and recorded (pid and start time) in a pid file, so that
//! teardown and `faultline heal` kill only what faultline started.

use super::quote::{command_line, quote};
use super::session::{Input, Output, Rt, Session, Sink};
use crate::remote::{DaemonSpec, ExecOutput, Remote, RemoteError, Signal};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A shell snippet setting `$s` to the state letter of process `$pid`
/// (empty when there is none): the field after the `)` that ends the
/// command name, which may itself hold spaces.
pub const STATE_OF_PID: &str = r#"s=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)"#;

/// A shell snippet setting `$st` to the start time (field 22 of
/// `/proc/PID/stat`) of process `$pid`, empty when there is none.
pub const START_OF_PID: &str =
    r#"st=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f20)"#;

/// The [`Remote`] of one node reached over SSH.
pub struct SshRemote {
    name: String,
    session: Arc<Session>,
    rt: Arc<Rt>,
    /// Where pid files of spawned daemons go, on the node.
    pids_dir: PathBuf,
}

impl std::fmt::Debug for SshRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshRemote")
            .field("name", &self.name)
            .field("host", &self.session.target().label())
            .finish()
    }
}

impl SshRemote {
    /// The remote of node `name` over `session`, on runtime `rt`, keeping
    /// pid files in `pids_dir` on the node.
    pub fn new(name: &str, session: Arc<Session>, rt: Arc<Rt>, pids_dir: PathBuf) -> Self {
        SshRemote {
            name: name.to_string(),
            session,
            rt,
            pids_dir,
        }
    }

    /// Its session.
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// The runtime its session lives on.
    pub fn runtime(&self) -> &Arc<Rt> {
        &self.rt
    }

    /// Run shell command line `cmd` on the node.
    pub fn sh(&self, cmd: &str, input: Input, sink: Sink) -> Result<Output, RemoteError> {
        let s = self.session.clone();
        let cmd = cmd.to_string();
        match self.rt.run(async move { s.run(&cmd, input, sink).await }) {
            Some(Ok(out)) => Ok(out),
            Some(Err(reason)) => Err(self.unreachable(reason)),
            None => Err(self.unreachable("the ssh runtime stopped".into())),
        }
    }

    /// Run shell command line `cmd`, capturing its output.
    pub fn sh_capture(&self, cmd: &str) -> Result<ExecOutput, RemoteError> {
        let out = self.sh(cmd, Input::Nothing, Sink::Capture)?;
        Ok(ExecOutput {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Run `cmd` and require exit status 0; `what` names it in the error.
    fn sh_ok(&self, what: &str, cmd: &str) -> Result<ExecOutput, RemoteError> {
        let out = self.sh_capture(cmd)?;
        if out.success() {
            Ok(out)
        } else {
            Err(RemoteError::Failed {
                node: self.name.clone(),
                cmd: what.to_string(),
                status: out.status,
                stderr: out.stderr.trim().to_string(),
            })
        }
    }

    /// Close the connection (a later command reconnects).
    pub fn close(&self) {
        let s = self.session.clone();
        let _ = self.rt.run(async move { s.close().await });
    }

    fn unreachable(&self, reason: String) -> RemoteError {
        let label = self.session.target().label();
        // Connection errors already start with the label.
        let reason = match reason.strip_prefix(&format!("{label}: ")) {
            Some(r) => r.to_string(),
            None => reason,
        };
        RemoteError::Unreachable {
            node: self.name.clone(),
            reason: format!("{label}: {reason}"),
        }
    }
}

/// The `kill` name of a signal.
fn sig_name(s: Signal) -> &'static str {
    match s {
        Signal::Kill => "KILL",
        Signal::Term => "TERM",
        Signal::Stop => "STOP",
        Signal::Cont => "CONT",
    }
}

/// The script that starts a daemon and records it; prints its pid.
pub fn spawn_script(daemon: &DaemonSpec, pids_dir: &Path) -> String {
    let mut dirs = vec![quote(&daemon.cwd.to_string_lossy())];
    if let Some(d) = daemon.log_file.parent() {
        dirs.push(quote(&d.to_string_lossy()));
    }
    dirs.push(quote(&pids_dir.to_string_lossy()));
    let mut words = vec!["env".to_string()];
    words.extend(daemon.env.iter().map(|(k, v)| quote(&format!("{k}={v}"))));
    words.push("setsid".into());
    words.push(command_line(&daemon.argv));
    format!(
        "mkdir -p {dirs} || exit 1\n\
         cd {cwd} || exit 1\n\
         {cmd} >>{log} 2>&1 </dev/null &\n\
         pid=$!\n\
         {START_OF_PID}\n\
         echo \"$pid $st\" > {pids}/$pid || exit 1\n\
         echo $pid\n",
        dirs = dirs.join(" "),
        cwd = quote(&daemon.cwd.to_string_lossy()),
        cmd = words.join(" "),
        log = quote(&daemon.log_file.to_string_lossy()),
        pids = quote(&pids_dir.to_string_lossy()),
    )
}

/// The script that signals `pid` and, for STOP and CONT, waits (up to 1 s,
/// on the node) until the process is or is no longer stopped. KILL and TERM
/// to a process already gone succeed.
pub fn signal_script(pid: u32, signal: Signal) -> String {
    let name = sig_name(signal);
    let send = match signal {
        Signal::Kill | Signal::Term => format!(
            "kill -{name} $pid 2>/dev/null || [ ! -e /proc/$pid ] || \
             {{ echo \"kill -{name} $pid failed\" >&2; exit 1; }}\n"
        ),
        Signal::Stop | Signal::Cont => format!(
            "{STATE_OF_PID}\ncase \"$s\" in ''|Z|X) echo \"process $pid has exited\" >&2; exit 1;; esac\n\
             kill -{name} $pid 2>/dev/null || {{ echo \"no process $pid\" >&2; exit 1; }}\n"
        ),
    };
    let wait = match signal {
        Signal::Stop => "case \"$s\" in ''|T|t) break;; esac",
        Signal::Cont => "case \"$s\" in T|t) ;; *) break;; esac",
        _ => return format!("pid={pid}\n{send}"),
    };
    format!(
        "pid={pid}\n{send}i=0\nwhile [ $i -lt 500 ]; do\n  {STATE_OF_PID}\n  {wait}\n  \
         sleep 0.002\n  i=$((i+1))\ndone\n"
    )
}

/// The script that waits up to `timeout` for `pid` to be gone (no
/// process, or a zombie); prints `gone` or `alive`.
pub fn wait_script(pid: u32, timeout: Duration) -> String {
    let rounds = timeout.as_millis() / 20;
    format!(
        "pid={pid}\ni=0\nwhile :; do\n  {STATE_OF_PID}\n  \
         case \"$s\" in ''|Z|X) echo gone; exit 0;; esac\n  \
         [ $i -ge {rounds} ] && {{ echo alive; exit 0; }}\n  sleep 0.02\n  i=$((i+1))\ndone\n"
    )
}

impl Remote for SshRemote {
    fn node(&self) -> &str {
        &self.name
    }

    fn exec(&self, argv: &[&str]) -> Result<ExecOutput, RemoteError> {
        self.sh_capture(&command_line(argv))
    }

    /// Streams the file through one channel into a temporary sibling, sets
    /// the local file's mode, then renames: a reader never sees half a file.
    fn upload(&self, local: &Path, remote: &Path) -> Result<(), RemoteError> {
        let mode = std::fs::metadata(local)
            .map_err(|source| RemoteError::Io {
                node: self.name.clone(),
                source,
            })?
            .permissions()
            .mode()
            & 0o7777;
        let dest = quote(&remote.to_string_lossy());
        let parent = remote
            .parent()
            .map(|p| quote(&p.to_string_lossy()))
            .unwrap_or_else(|| ".".into());
        let tmp = format!("{dest}.faultline-tmp.$$");
        let cmd = format!(
            "mkdir -p {parent} && cat > {tmp} && chmod {mode:o} {tmp} && mv -f {tmp} {dest} \
             || {{ rm -f {tmp}; exit 1; }}"
        );
        let out = self.sh(&cmd, Input::File(local.to_path_buf()), Sink::Capture)?;
        if out.status == 0 {
            Ok(())
        } else {
            Err(RemoteError::Failed {
                node: self.name.clone(),
                cmd: format!("upload {} to {}", local.display(), remote.display()),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    fn download(&self, remote: &Path, local: &Path) -> Result<(), RemoteError> {
        if let Some(dir) = local.parent() {
            std::fs::create_dir_all(dir).map_err(|source| RemoteError::Io {
                node: self.name.clone(),
                source,
            })?;
        }
        let cmd = format!("cat {}", quote(&remote.to_string_lossy()));
        let out = self.sh(&cmd, Input::Nothing, Sink::File(local.to_path_buf()))?;
        if out.status == 0 {
            Ok(())
        } else {
            let _ = std::fs::remove_file(local);
            Err(RemoteError::Failed {
                node: self.name.clone(),
                cmd,
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    fn spawn(&self, daemon: &DaemonSpec) -> Result<u32, RemoteError> {
        if daemon.argv.is_empty() {
            return Err(RemoteError::Failed {
                node: self.name.clone(),
                cmd: String::new(),
                status: -1,
                stderr: "empty command line".into(),
            });
        }
        let what = command_line(&daemon.argv);
        let out = self.sh_ok(&what, &spawn_script(daemon, &self.pids_dir))?;
        out.stdout.trim().parse().map_err(|_| RemoteError::Failed {
            node: self.name.clone(),
            cmd: what,
            status: out.status,
            stderr: format!("no pid printed (got {:?})", out.stdout.trim()),
        })
    }

    fn signal(&self, pid: u32, signal: Signal) -> Result<(), RemoteError> {
        self.sh_ok(
            &format!("kill -{} {pid}", sig_name(signal)),
            &signal_script(pid, signal),
        )
        .map(|_| ())
    }

    fn wait_exit(&self, pid: u32, timeout: Duration) -> Result<bool, RemoteError> {
        let out = self.sh_ok(
            &format!("wait for {pid} to exit"),
            &wait_script(pid, timeout),
        )?;
        Ok(out.stdout.trim() == "gone")
    }

    /// One round trip: the first of [`crate::remote::faketime::CANDIDATES`]
    /// that exists on the node.
    fn libfaketime(&self) -> Result<Option<PathBuf>, RemoteError> {
        let out = self.sh_ok("locate libfaketime", &locate_faketime_script())?;
        let p = out.stdout.trim();
        Ok((!p.is_empty()).then(|| PathBuf::from(p)))
    }
}

/// Prints the first libfaketime candidate that exists, or nothing.
pub fn locate_faketime_script() -> String {
    let list: Vec<String> = crate::remote::faketime::CANDIDATES
        .iter()
        .map(|c| quote(c))
        .collect();
    format!(
        "for f in {}; do [ -e \"$f\" ] && {{ echo \"$f\"; break; }}; done; exit 0",
        list.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sh(script: &str) -> (i32, String) {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    }

    #[test]
    fn spawn_records_pid_and_start_time_and_signals_stop_and_resume_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pids = dir.path().join("pids");
        let daemon = DaemonSpec {
            argv: vec!["sleep".into(), "30".into()],
            env: vec![("A VAR".replace(' ', "_"), "it's $x".into())],
            cwd: dir.path().join("cwd dir"),
            log_file: dir.path().join("logs/d.log"),
        };
        let (code, out) = sh(&spawn_script(&daemon, &pids));
        assert_eq!(code, 0, "{out}");
        let pid: u32 = out.parse().expect("a pid");
        let rec = std::fs::read_to_string(pids.join(pid.to_string())).expect("pid file");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("alive");
        let start = stat
            .rsplit_once(") ")
            .map(|(_, r)| r.split(' ').nth(19).unwrap_or(""))
            .unwrap_or("");
        assert_eq!(rec.trim(), format!("{pid} {start}"));
        let state = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(") ").and_then(|(_, r)| r.chars().next()))
        };
        assert_eq!(sh(&signal_script(pid, Signal::Stop)).0, 0);
        assert_eq!(state(pid), Some('T'));
        assert_eq!(sh(&signal_script(pid, Signal::Cont)).0, 0);
        assert_ne!(state(pid), Some('T'));
        assert_eq!(sh(&wait_script(pid, Duration::from_millis(100))).1, "alive");
        assert_eq!(sh(&signal_script(pid, Signal::Kill)).0, 0);
        // Its parent (the shell) is gone: init reaps it.
        assert_eq!(sh(&wait_script(pid, Duration::from_secs(5))).1, "gone");
        // Killing what is gone succeeds; stopping it does not.
        assert_eq!(sh(&signal_script(pid, Signal::Kill)).0, 0);
        assert_ne!(sh(&signal_script(pid, Signal::Stop)).0, 0);
    }
}
