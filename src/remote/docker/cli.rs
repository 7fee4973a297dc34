//! The `docker` command line, the backend's only way to the engine: every
//! call is one `docker ...` process, so the docker CLI's own environment
//! (`DOCKER_HOST`, `DOCKER_CONTEXT`, `DOCKER_CONFIG`...) is honoured as it
//! is by hand.

use crate::remote::{ExecOutput, RemoteError};
use std::io::Write;
use std::process::{Command, Stdio};

/// A failure on the harness's side that the user has to fix.
pub(super) fn host_err(msg: impl Into<String>) -> RemoteError {
    RemoteError::Host(msg.into())
}

/// What `docker ARGS` printed and returned, as raw bytes for stdout (file
/// downloads) and text for stderr.
pub(super) struct Raw {
    /// Exit status (`-1` when killed by a signal).
    pub status: i32,
    /// Standard output, untouched.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: String,
}

/// Run `docker ARGS`, feeding `input` to its standard input when given;
/// `who` names the node (or `docker`) in the error when it cannot start.
pub(super) fn run_raw(args: &[&str], input: Option<&[u8]>, who: &str) -> Result<Raw, RemoteError> {
    let mut command = Command::new("docker");
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let spawn_err = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            host_err(
                "docker is not installed (no `docker` program on PATH): the docker backend \
                 needs a Docker engine and its CLI (Debian: apt-get install docker.io)",
            )
        } else {
            RemoteError::Spawn {
                node: who.to_string(),
                cmd: format!("docker {}", args.join(" ")),
                source: e,
            }
        }
    };
    let mut child = command.spawn().map_err(spawn_err)?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        // A command that exits early closes its end: the write fails and
        // the status says why.
        let _ = stdin.write_all(bytes);
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    Ok(Raw {
        status: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Run `docker ARGS` and capture its output as text, whatever the status.
pub(super) fn run(args: &[&str], who: &str) -> Result<ExecOutput, RemoteError> {
    let raw = run_raw(args, None, who)?;
    Ok(ExecOutput {
        status: raw.status,
        stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
        stderr: raw.stderr,
    })
}

/// Run `docker ARGS` and require exit status 0; the error quotes docker.
pub(super) fn ok(args: &[&str]) -> Result<ExecOutput, RemoteError> {
    let out = run(args, "docker")?;
    if out.success() {
        Ok(out)
    } else {
        Err(RemoteError::Failed {
            node: "docker".into(),
            cmd: format!("docker {}", args.join(" ")),
            status: out.status,
            stderr: out.stderr.trim().to_string(),
        })
    }
}

/// True when stderr is the docker CLI's own complaint (the engine, the
/// container), not the output of a command run in a container.
pub(super) fn is_engine_error(stderr: &str) -> bool {
    let s = stderr.trim_start();
    s.starts_with("Error response from daemon")
        || s.starts_with("Cannot connect to the Docker daemon")
        || s.starts_with("error during connect")
        || s.starts_with("Error: No such container")
}

/// Check that the engine answers (`docker version` reaches the daemon):
/// a clear [`RemoteError::Host`] when the CLI is missing or the daemon
/// unreachable.
pub(super) fn require_engine() -> Result<(), RemoteError> {
    let out = run(&["version", "--format", "{{.Server.Version}}"], "docker")?;
    if out.success() && !out.stdout.trim().is_empty() {
        return Ok(());
    }
    let why = out
        .stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no answer")
        .trim()
        .to_string();
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the default socket".into());
    Err(host_err(format!(
        "the Docker engine is unreachable (DOCKER_HOST: {host}): {why}; start it \
         (systemctl start docker) or point DOCKER_HOST at a running one"
    )))
}

/// True when the engine answers; for `faultline heal`, which says nothing
/// when there is no Docker at all.
pub(super) fn engine_answers() -> bool {
    matches!(run(&["version", "--format", "{{.Server.Version}}"], "docker"),
        Ok(out) if out.success() && !out.stdout.trim().is_empty())
}

/// Quote `s` for a POSIX shell.
pub(super) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn engine_errors_are_told_from_command_output() {
        assert!(is_engine_error(
            "Error response from daemon: Container abc is not running"
        ));
        assert!(is_engine_error(
            "Cannot connect to the Docker daemon at unix:///nonexistent."
        ));
        assert!(!is_engine_error("iptables: Bad rule"));
    }
}
