//! README's main command, `cargo run --release -- test`, for a user who is
//! not root: faultline re-executes its own binary under sudo (saying so), or
//! exits 254 naming the exact command to run; `--dry-run` and the memory
//! cluster never ask for root. The binary runs as an unprivileged user
//! (uid 65534 through `setpriv` when the tests run as root, the current user
//! otherwise), with a stand-in `sudo` that records its arguments, since a
//! test cannot type a password.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A scratch folder anyone can use, with a copy of the binary under test
/// (the checkout may sit in a home an unprivileged user cannot enter) and
/// `fake/sudo`, which prints `sudo: ARGS` and exits 7.
struct Scratch {
    dir: tempfile::TempDir,
    exe: PathBuf,
}

/// Held while a test writes an executable and while it forks: a child
/// forked while another test's copy is still open for writing holds that
/// descriptor until it execs, and exec of the copy then fails with
/// "Text file busy" (ETXTBSY).
static EXEC_FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Scratch {
    fn new() -> Scratch {
        let _files = EXEC_FILES.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let exe = dir.path().join("faultline");
        std::fs::copy(env!("CARGO_BIN_EXE_faultline"), &exe).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let fake = dir.path().join("fake");
        std::fs::create_dir(&fake).unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let sudo = fake.join("sudo");
        std::fs::write(&sudo, "#!/bin/sh\necho \"sudo: $*\"\nexit 7\n").unwrap();
        std::fs::set_permissions(&sudo, std::fs::Permissions::from_mode(0o755)).unwrap();
        Scratch { dir, exe }
    }

    /// PATH with the stand-in sudo first, or with no sudo at all.
    fn path(&self, with_sudo: bool) -> String {
        let system = "/usr/local/bin:/usr/bin:/bin";
        if with_sudo {
            format!("{}:{system}", self.dir.path().join("fake").display())
        } else {
            system.to_string()
        }
    }

    /// Run the binary as a user who is not root, in the scratch folder,
    /// with `PATH` and the extra environment `env`.
    fn run_unprivileged(&self, args: &[&str], with_sudo: bool, env: &[(&str, &str)]) -> Output {
        let mut cmd = if is_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&self.exe);
            c
        } else {
            Command::new(&self.exe)
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", self.path(with_sudo))
            .envs(env.iter().copied());
        let child = {
            let _files = EXEC_FILES.lock().unwrap_or_else(|p| p.into_inner());
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run faultline as an unprivileged user")
        };
        child
            .wait_with_output()
            .expect("run faultline as an unprivileged user")
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn non_root_with_sudo_reruns_the_same_binary_and_arguments_under_sudo() {
    let s = Scratch::new();
    let out = s.run_unprivileged(&["test", "--time-limit", "1", "--name", "a b"], true, &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    // The stand-in sudo ran, got exactly this binary and its arguments, and
    // its exit code is faultline's: the process was replaced, not wrapped.
    assert_eq!(
        out.status.code(),
        Some(7),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        stdout.trim_end(),
        format!(
            "sudo: -- {} test --time-limit 1 --name a b",
            s.exe.display()
        )
    );
    assert!(
        stderr.contains("needs root")
            && stderr.contains(&format!(
                "re-running as root: sudo {} test --time-limit 1 --name 'a b'",
                s.exe.display()
            )),
        "{stderr}"
    );
}

#[test]
fn non_root_without_sudo_exits_254_with_the_command_to_run() {
    let s = Scratch::new();
    let out = s.run_unprivileged(&["test", "--time-limit", "1"], false, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{stderr}");
    assert!(stderr.contains("needs root"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "su root -c '{} test --time-limit 1'",
            s.exe.display()
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("\n  sudo "),
        "no sudo here, none suggested: {stderr}"
    );
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

#[test]
fn faultline_no_sudo_and_a_sudo_that_did_not_make_root_exit_254() {
    let s = Scratch::new();
    for (env, reason) in [
        (("FAULTLINE_NO_SUDO", "1"), "FAULTLINE_NO_SUDO is set"),
        (("SUDO_UID", "1000"), "started by sudo but is not root"),
    ] {
        let out = s.run_unprivileged(&["heal"], true, &[env]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{env:?}: {stderr}");
        assert!(stderr.contains(reason), "{env:?}: {stderr}");
        assert!(
            stderr.contains(&format!("sudo {} heal", s.exe.display())),
            "{env:?}: {stderr}"
        );
        assert!(
            !text(&out.stdout).contains("sudo:"),
            "{env:?}: sudo must not run"
        );
    }
}

#[test]
fn dry_run_and_the_memory_cluster_never_ask_for_root() {
    let s = Scratch::new();
    let out = s.run_unprivileged(&["test", "--dry-run", "--seed", "7"], true, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("backend local"), "{stdout}");
    assert!(!stdout.contains("sudo:"), "{stdout}");

    let results = s.dir.path().join("results");
    let out = s.run_unprivileged(
        &[
            "test",
            "--cluster",
            "memory",
            "--nemesis",
            "none",
            "--time-limit",
            "0.5",
            "--results",
            results.to_str().unwrap(),
        ],
        true,
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("sudo:"));
    assert!(!text(&out.stderr).contains("needs root"));
    assert!(results.is_dir(), "the memory run stored its results");
}
