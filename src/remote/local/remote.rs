//! [`LocalRemote`]: the [`Remote`] of one node of the local backend, its
//! network namespace. Commands run through `ip netns exec`; daemons are
//! started with `setsid` and kept as children so they can be reaped after
//! SIGKILL; signals go through kill(2) only to processes that really live
//! in the node's namespace.

use super::host::{capture, pid_in_netns, process_state};
use super::netns_name;
use crate::remote::{DaemonSpec, ExecOutput, Remote, RemoteError, Signal};
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn to_nix(sig: Signal) -> nix::sys::signal::Signal {
    use nix::sys::signal::Signal as S;
    match sig {
        Signal::Kill => S::SIGKILL,
        Signal::Term => S::SIGTERM,
        Signal::Stop => S::SIGSTOP,
        Signal::Cont => S::SIGCONT,
    }
}

/// The [`Remote`] of one node of a [`super::LocalNet`]: its network namespace.
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

    /// `cmd` failed on this node for `why` (a signal, not a program).
    fn failed(&self, cmd: String, why: impl Into<String>) -> RemoteError {
        RemoteError::Failed {
            node: self.name.clone(),
            cmd,
            status: -1,
            stderr: why.into(),
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
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.netns]).args(argv);
        capture(command, &self.name, argv)
    }

    /// On the harness's own machine: the namespaces share its file system
    /// and have no route to a package registry.
    fn install(&self, packages: &[&str]) -> Result<(), RemoteError> {
        let mut argv = vec![
            "sh",
            "-c",
            crate::remote::INSTALL_SCRIPT,
            "faultline-install",
        ];
        argv.extend_from_slice(packages);
        let mut command = Command::new(argv[0]);
        command.args(&argv[1..]);
        let out = capture(command, &self.name, &argv)?;
        if out.success() {
            Ok(())
        } else {
            Err(RemoteError::Failed {
                node: self.name.clone(),
                cmd: format!("apt-get install {}", packages.join(" ")),
                status: out.status,
                stderr: out.stderr.trim().to_string(),
            })
        }
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
                Err(self.failed(format!("kill -{signal:?} {pid}"), "the process has exited"))
            };
        }
        let ours = self.children().contains_key(&pid);
        if !ours && !pid_in_netns(pid, &self.netns) {
            return if gone_ok && process_state(pid).is_none() {
                Ok(())
            } else {
                Err(self.failed(
                    format!("kill -{signal:?} {pid}"),
                    format!("pid {pid} is not a process of namespace {}", self.netns),
                ))
            };
        }
        let raw = i32::try_from(pid)
            .map_err(|_| self.failed(format!("kill {pid}"), "pid out of range"))?;
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
            Err(e) => Err(self.failed(format!("kill -{signal:?} {pid}"), e.to_string())),
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
