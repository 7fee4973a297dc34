//! The harness's own machine, where the local backend's nodes live:
//! commands run on the host itself, the root check, the prerequisites
//! (`ip`, `iptables`, libfaketime) and what `/proc` says about a process or
//! a namespace.

use super::super::faketime;
use crate::remote::{ExecOutput, RemoteError};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A failure on the host that the user has to fix.
pub(super) fn host_err(msg: impl Into<String>) -> RemoteError {
    RemoteError::Host(msg.into())
}

/// Run `command` to completion with no input and capture its output; `node`
/// and `argv` name it in the error when it cannot start.
pub(super) fn capture(
    mut command: Command,
    node: &str,
    argv: &[&str],
) -> Result<ExecOutput, RemoteError> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| RemoteError::Spawn {
            node: node.to_string(),
            cmd: argv.join(" "),
            source: e,
        })?;
    Ok(ExecOutput {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Run a command on the host; output whatever the status.
pub(super) fn host_exec(argv: &[&str]) -> Result<ExecOutput, RemoteError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(host_err("an empty command line cannot run on the host"));
    };
    let mut command = Command::new(program);
    command.args(args);
    capture(command, "localhost", argv)
}

/// Run a command on the host and require success.
pub(super) fn host_ok(argv: &[&str]) -> Result<ExecOutput, RemoteError> {
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

pub(super) fn require_root() -> Result<(), RemoteError> {
    if is_root() {
        Ok(())
    } else {
        Err(host_err(
            "the local backend needs root (it creates network namespaces, a bridge and \
             iptables rules): run faultline as root, e.g. `sudo faultline ...`",
        ))
    }
}

pub(super) fn have_program(name: &str) -> bool {
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

/// The libfaketime installed on this machine, if any: the local backend's
/// nodes share the host's file system, so this is also what
/// [`crate::remote::Remote::libfaketime`] finds on each of them.
pub fn libfaketime_path() -> Option<PathBuf> {
    faketime::CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// The (device, inode) of a namespace file, to compare namespaces.
fn ns_id(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// True when process `pid` lives in network namespace `netns`.
pub(super) fn pid_in_netns(pid: u32, netns: &str) -> bool {
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
