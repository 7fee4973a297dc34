//! [`DockerRemote`]: the [`Remote`] of one container, through the docker
//! CLI. Every call is one `docker exec` (about 40–80 ms each here): files
//! travel through the exec's standard input and output, a daemon is
//! started by a shell that prints its pid, and a signal waits for its
//! effect inside the same exec, so no operation costs more than one round
//! trip to the engine.

use super::cli::{self, sh_quote};
use crate::remote::faketime;
use crate::remote::{DaemonSpec, ExecOutput, Remote, RemoteError, Signal};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The [`Remote`] of one node of the docker backend: container `container`.
#[derive(Debug)]
pub struct DockerRemote {
    name: String,
    container: String,
    faketime: OnceLock<Option<PathBuf>>,
}

/// Print the state letter of pid `$1` (`R`, `S`, `T`, `Z`...), nothing when
/// there is no such process.
const STATE_FN: &str =
    r#"st() { sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null; }"#;

impl DockerRemote {
    /// The remote of node `name`, running in container `container`.
    pub fn new(name: &str, container: &str) -> Self {
        DockerRemote {
            name: name.to_string(),
            container: container.to_string(),
            faketime: OnceLock::new(),
        }
    }

    /// The container this remote runs commands in.
    pub fn container(&self) -> &str {
        &self.container
    }

    /// `docker exec [OPTS] CONTAINER ARGV`, with `input` on its stdin.
    fn docker_exec(
        &self,
        opts: &[&str],
        argv: &[&str],
        input: Option<&[u8]>,
    ) -> Result<cli::Raw, RemoteError> {
        let mut args: Vec<&str> = vec!["exec"];
        if input.is_some() {
            args.push("-i");
        }
        args.extend_from_slice(opts);
        args.push(&self.container);
        args.extend_from_slice(argv);
        let raw = cli::run_raw(&args, input, &self.name)?;
        if raw.status != 0 && cli::is_engine_error(&raw.stderr) {
            return Err(RemoteError::Unreachable {
                node: self.name.clone(),
                reason: format!("container {}: {}", self.container, raw.stderr.trim()),
            });
        }
        Ok(raw)
    }

    /// Run a shell `script` (with `$1`... = `args`) and require status 0.
    fn sh_ok(&self, what: &str, script: &str, args: &[&str]) -> Result<cli::Raw, RemoteError> {
        let mut argv = vec!["sh", "-c", script, "faultline"];
        argv.extend_from_slice(args);
        let raw = self.docker_exec(&[], &argv, None)?;
        if raw.status == 0 {
            Ok(raw)
        } else {
            Err(self.failed(what, raw.status, raw.stderr.trim()))
        }
    }

    fn failed(&self, cmd: &str, status: i32, why: &str) -> RemoteError {
        RemoteError::Failed {
            node: self.name.clone(),
            cmd: cmd.to_string(),
            status,
            stderr: why.to_string(),
        }
    }

    fn io_err(&self, source: std::io::Error) -> RemoteError {
        RemoteError::Io {
            node: self.name.clone(),
            source,
        }
    }
}

/// The shell script of [`Remote::spawn`]: `$1` cwd, `$2` log file, then
/// the command line. `setsid` execs in place (a background job of a
/// non-interactive shell leads no process group), so `$!` is the daemon.
const SPAWN_SCRIPT: &str = r#"cwd=$1; log=$2; shift 2
mkdir -p "$cwd" "$(dirname "$log")" && cd "$cwd" || exit 1
setsid "$@" >>"$log" 2>&1 </dev/null &
echo $!"#;

/// The shell script of [`Remote::signal`]: `$1` pid, `$2` signal name,
/// `$3` `stop`, `cont` or `-`. Exit 3: no such process. For STOP and CONT
/// it waits (at most 1 s) until the state says the signal took effect.
fn signal_script() -> String {
    format!(
        r#"{STATE_FN}
s=$(st "$1"); case "$s" in ''|Z|X) exit 3;; esac
kill -s "$2" "$1" || exit 3
i=0
while [ $i -lt 200 ]; do
  s=$(st "$1")
  case "$3:$s" in
    stop:T|stop:t|cont:|stop:|cont:Z|stop:Z|-:*) exit 0;;
    cont:T|cont:t) ;;
    cont:*) exit 0;;
  esac
  sleep 0.005; i=$((i+1))
done
exit 0"#
    )
}

/// The shell script of [`Remote::wait_exit`]: `$1` pid, `$2` tries of
/// 20 ms. Exit 0 when the process is gone (no `/proc` entry, or a zombie
/// that PID 1 has yet to reap), 1 when it outlived the tries.
fn wait_script() -> String {
    format!(
        r#"{STATE_FN}
i=0
while :; do
  case "$(st "$1")" in ''|Z|X) exit 0;; esac
  [ $i -ge "$2" ] && exit 1
  sleep 0.02; i=$((i+1))
done"#
    )
}

impl Remote for DockerRemote {
    fn node(&self) -> &str {
        &self.name
    }

    fn exec(&self, argv: &[&str]) -> Result<ExecOutput, RemoteError> {
        if argv.is_empty() {
            return Err(self.failed("", -1, "empty command line"));
        }
        let raw = self.docker_exec(&[], argv, None)?;
        Ok(ExecOutput {
            status: raw.status,
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: raw.stderr,
        })
    }

    /// Streams the file through `docker exec -i` into a temporary sibling,
    /// then renames it: a reader (libfaketime re-reading its offset file)
    /// never sees a half-written file. The file's mode is kept.
    fn upload(&self, local: &Path, remote: &Path) -> Result<(), RemoteError> {
        let bytes = fs::read(local).map_err(|e| self.io_err(e))?;
        let mode = fs::metadata(local)
            .map(|m| m.permissions().mode() & 0o7777)
            .map_err(|e| self.io_err(e))?;
        let target = remote.display().to_string();
        let mode = format!("{mode:o}");
        let script = r#"t=$1; tmp="$1.faultline-tmp"
mkdir -p "$(dirname "$t")" && cat >"$tmp" && chmod "$2" "$tmp" && mv -f "$tmp" "$t""#;
        let raw = self.docker_exec(
            &[],
            &["sh", "-c", script, "faultline", &target, &mode],
            Some(&bytes),
        )?;
        if raw.status == 0 {
            Ok(())
        } else {
            Err(self.failed(
                &format!("upload {} to {target}", local.display()),
                raw.status,
                raw.stderr.trim(),
            ))
        }
    }

    fn download(&self, remote: &Path, local: &Path) -> Result<(), RemoteError> {
        let target = remote.display().to_string();
        let raw = self.docker_exec(&[], &["cat", &target], None)?;
        if raw.status != 0 {
            return Err(self.failed(&format!("cat {target}"), raw.status, raw.stderr.trim()));
        }
        if let Some(dir) = local.parent() {
            fs::create_dir_all(dir).map_err(|e| self.io_err(e))?;
        }
        fs::write(local, &raw.stdout).map_err(|e| self.io_err(e))
    }

    /// `docker exec -d` gives no pid, so a shell in the container starts the
    /// daemon with `setsid` in the background and prints `$!`. The daemon is
    /// reparented to the container's init (docker-init), which reaps it.
    fn spawn(&self, daemon: &DaemonSpec) -> Result<u32, RemoteError> {
        let cmd = daemon.argv.join(" ");
        if daemon.argv.is_empty() {
            return Err(self.failed(&cmd, -1, "empty command line"));
        }
        let env: Vec<String> = daemon
            .env
            .iter()
            .flat_map(|(k, v)| ["-e".to_string(), format!("{k}={v}")])
            .collect();
        let env: Vec<&str> = env.iter().map(String::as_str).collect();
        let cwd = daemon.cwd.display().to_string();
        let log = daemon.log_file.display().to_string();
        let mut argv = vec!["sh", "-c", SPAWN_SCRIPT, "faultline", &cwd, &log];
        argv.extend(daemon.argv.iter().map(String::as_str));
        let raw = self.docker_exec(&env, &argv, None)?;
        let stdout = String::from_utf8_lossy(&raw.stdout);
        match (raw.status, stdout.trim().parse::<u32>()) {
            (0, Ok(pid)) => Ok(pid),
            _ => Err(self.failed(
                &cmd,
                raw.status,
                &format!(
                    "could not start the daemon: {}{}",
                    stdout.trim(),
                    raw.stderr.trim()
                ),
            )),
        }
    }

    /// `kill` inside the container; STOP and CONT return once the process
    /// state shows them. A SIGKILL or SIGTERM to a process already gone
    /// succeeds: the goal holds.
    fn signal(&self, pid: u32, signal: Signal) -> Result<(), RemoteError> {
        let (name, want) = match signal {
            Signal::Kill => ("KILL", "-"),
            Signal::Term => ("TERM", "-"),
            Signal::Stop => ("STOP", "stop"),
            Signal::Cont => ("CONT", "cont"),
        };
        let pid_s = pid.to_string();
        let argv = [
            "sh",
            "-c",
            &signal_script(),
            "faultline",
            &pid_s,
            name,
            want,
        ];
        let raw = self.docker_exec(&[], &argv, None)?;
        match raw.status {
            0 => Ok(()),
            3 if matches!(signal, Signal::Kill | Signal::Term) => Ok(()),
            3 => Err(self.failed(&format!("kill -{name} {pid}"), 3, "the process has exited")),
            s => Err(self.failed(&format!("kill -{name} {pid}"), s, raw.stderr.trim())),
        }
    }

    /// One exec that polls `/proc` inside the container: gone is no entry
    /// or a zombie (the container's init reaps it soon after).
    fn wait_exit(&self, pid: u32, timeout: Duration) -> Result<bool, RemoteError> {
        let tries = (timeout.as_millis() / 20).max(1).to_string();
        let pid_s = pid.to_string();
        let raw = self.docker_exec(
            &[],
            &["sh", "-c", &wait_script(), "faultline", &pid_s, &tries],
            None,
        )?;
        match raw.status {
            0 => Ok(true),
            1 => Ok(false),
            s => Err(self.failed(&format!("wait for pid {pid}"), s, raw.stderr.trim())),
        }
    }

    /// One exec for all of [`faketime::CANDIDATES`], remembered: the image
    /// does not change under a running container.
    fn libfaketime(&self) -> Result<Option<PathBuf>, RemoteError> {
        if let Some(found) = self.faketime.get() {
            return Ok(found.clone());
        }
        let list: Vec<String> = faketime::CANDIDATES.iter().map(|c| sh_quote(c)).collect();
        let script = format!(
            "for f in {}; do if [ -e \"$f\" ]; then echo \"$f\"; exit 0; fi; done",
            list.join(" ")
        );
        let raw = self.sh_ok("locate libfaketime", &script, &[])?;
        let out = String::from_utf8_lossy(&raw.stdout).trim().to_string();
        let found = (!out.is_empty()).then(|| PathBuf::from(out));
        let _ = self.faketime.set(found.clone());
        Ok(found)
    }
}
