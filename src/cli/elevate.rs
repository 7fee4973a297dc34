//! Root for the commands that need it. `faultline test` on the local backend
//! (and `faultline heal`) create network namespaces, a bridge and iptables
//! rules, which only root may do. Run by a user who is not root, faultline
//! re-executes its own binary under `sudo` (saying so on stderr), so the
//! README's `cargo run --release -- test` works for a user whose `cargo`
//! lives in their home, where `sudo cargo ...` fails because sudo resets
//! `PATH`. Without sudo, or with `FAULTLINE_NO_SUDO` set, it exits 254 with
//! the exact command to run instead. Root runs straight on: a clean Debian
//! container may have no sudo at all.
//!
//! The decision is taken before the command runs, from the resolved test,
//! so `--dry-run` and `--cluster memory` never ask for root.

use super::{Cli, Command};
use crate::exit;
use crate::spec;
use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// Set (to anything) to never re-execute under sudo: faultline then exits
/// 254 with the command to run as root.
pub const NO_SUDO_ENV: &str = "FAULTLINE_NO_SUDO";

/// Whether the parsed command needs root, and why (for the messages).
fn needs_root(cli: &Cli) -> Option<&'static str> {
    match &cli.command {
        Command::Test(a) if !a.dry_run => {
            // A test that does not resolve is reported by `test::run` itself,
            // with its own exit code; only a valid local test asks for root.
            let spec = spec::resolve(&a.overrides()).ok()?;
            let backend = crate::remote::backend::build(&spec.cluster.backend_config()).ok()?;
            backend.needs_root().then_some(
                "`faultline test` on the local backend needs root (it creates network \
                 namespaces, a bridge and iptables rules)",
            )
        }
        Command::Suite(a) if super::suite::needs_root(a) => Some(
            "`faultline suite` with tests on the local backend needs root (it creates \
             network namespaces, a bridge and iptables rules)",
        ),
        Command::Compare(a) if super::compare::needs_root(a) => Some(
            "`faultline compare` with a system on the local backend needs root (it creates \
             network namespaces, a bridge and iptables rules)",
        ),
        Command::Hunt(a) if super::hunt::needs_root(a) => Some(
            "`faultline hunt` on the local backend needs root (it creates network \
             namespaces, a bridge and iptables rules)",
        ),
        Command::Cluster(a) if super::cluster::needs_root(a) => Some(
            "`faultline cluster` on the local backend needs root (it creates and removes \
             network namespaces, a bridge and iptables rules)",
        ),
        Command::Heal(_) => Some(
            "`faultline heal` needs root (it removes network namespaces, a bridge and \
             iptables rules)",
        ),
        _ => None,
    }
}

/// The effective uid is root. `/proc/self` is owned by the effective uid
/// (which spares nix's `user` feature for one call).
fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// `name` found in `PATH`, as an absolute path.
fn find_in_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `arg` quoted for a POSIX shell when it needs it, so the printed command
/// can be pasted as is.
fn shell_quote(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The command line that runs `exe args...`, quoted for a shell.
fn command_line(exe: &Path, args: &[OsString]) -> String {
    std::iter::once(exe.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Before a command runs: when it needs root and this process is not root,
/// re-execute this very binary under `sudo` (this call then does not
/// return when it works), or print what to run and return exit code 254.
/// `None`: go on and run the command here.
pub fn rerun_as_root_if_needed(cli: &Cli) -> Option<u8> {
    let why = needs_root(cli)?;
    if is_root() {
        return None;
    }
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("faultline: error: {why}, and the path of this binary is unknown: {e}");
            return Some(exit::BAD_INPUT);
        }
    };
    let line = command_line(&exe, &args);
    let su = format!("su root -c {}", shell_quote(OsStr::new(&line)));
    let refuse = |reason: &str, with_sudo: bool| {
        if with_sudo {
            eprintln!(
                "faultline: error: {why}; {reason}. Run it as root:\n  sudo {line}\n\
                 or, without sudo:\n  {su}"
            );
        } else {
            eprintln!("faultline: error: {why}; {reason}. Run it as root:\n  {su}");
        }
        Some(exit::BAD_INPUT)
    };
    if std::env::var_os("SUDO_UID").is_some() {
        // Already started by sudo and still not root: going round again
        // would loop.
        return refuse("it was started by sudo but is not root", true);
    }
    if std::env::var_os(NO_SUDO_ENV).is_some() {
        return refuse(
            &format!("{NO_SUDO_ENV} is set, so it does not use sudo"),
            true,
        );
    }
    let Some(sudo) = find_in_path("sudo") else {
        return refuse("this user is not root and there is no sudo here", false);
    };
    eprintln!("faultline: {why}; re-running as root: sudo {line}");
    // exec replaces this process: the exit code, the terminal and Ctrl-C
    // all go to the command run as root, with nothing left waiting here.
    let e = std::process::Command::new(&sudo)
        .arg("--")
        .arg(&exe)
        .args(&args)
        .exec();
    eprintln!(
        "faultline: error: cannot run {}: {e}; run it as root yourself:\n  sudo {line}",
        sudo.display()
    );
    Some(exit::BAD_INPUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        use clap::Parser;
        Cli::try_parse_from(std::iter::once("faultline").chain(args.iter().copied()))
            .expect("valid flags")
    }

    #[test]
    fn only_commands_that_touch_this_machine_ask_for_root() {
        assert!(needs_root(&parse(&["test"])).is_some());
        assert!(needs_root(&parse(&["heal"])).is_some());
        assert!(needs_root(&parse(&["test", "--dry-run"])).is_none());
        assert!(needs_root(&parse(&[
            "test",
            "--cluster",
            "memory",
            "--nemesis",
            "none"
        ]))
        .is_none());
    }

    #[test]
    fn printed_commands_can_be_pasted_into_a_shell() {
        let args: Vec<OsString> = ["test", "--name", "a b", "it's", ""]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            command_line(Path::new("/home/u/fl/target/release/faultline"), &args),
            r"/home/u/fl/target/release/faultline test --name 'a b' 'it'\''s' ''"
        );
    }
}
