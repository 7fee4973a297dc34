//! Healing the local backend: remove whatever a faultline run left on this
//! machine — processes in faultline namespaces, the namespaces, the bridge
//! and veths, the FORWARD rules tagged [`RULE_COMMENT`] and the faketime
//! offset files, the claim of a cluster left running ([`super::Claim`]) —
//! and nothing else. [`heal_all`] is `faultline heal`; a starting run and
//! [`super::LocalNet::destroy`] use the same sweep.

use super::super::faketime;
use super::claim::Claim;
use super::host::{
    have_program, host_err, host_exec, host_ok, pid_in_netns, process_state, require_root,
};
use super::lock::RunLock;
use super::{netns_name, BRIDGE, NETNS_PREFIX, RULE_COMMENT, VETH_PREFIX};
use crate::remote::RemoteError;
use std::fmt;
use std::fs;
use std::time::{Duration, Instant};

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
    /// Clusters left running on purpose whose claim was removed
    /// (`faultline cluster up`).
    pub clusters: Vec<String>,
}

impl HealReport {
    /// True when nothing had to be removed.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
            && self.namespaces.is_empty()
            && self.links.is_empty()
            && self.rules.is_empty()
            && self.files.is_empty()
            && self.clusters.is_empty()
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
            ("removed cluster", &self.clusters),
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
/// faketime offset files; and the claim on the network (see [`Claim`]):
/// this sweep is what frees a network left running. Returns what was
/// removed.
pub(super) fn heal_unlocked(only: Option<&[String]>) -> Result<HealReport, RemoteError> {
    let mut report = HealReport {
        clusters: Claim::remove(),
        ..HealReport::default()
    };
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
    let dir = faketime::offset_dir();
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
                + report.clusters.len()
                + report.namespaces.len()
                + report.links.len()
                + report.rules.len()
                + report.files.len(),
            errors.join("; ")
        )))
    }
}

/// Remove whatever a killed faultline run left on this machine (and only
/// that): see [`crate::remote::local`]. Refuses while a live run holds the lock.
pub fn heal_all() -> Result<HealReport, RemoteError> {
    require_root()?;
    let Some(_lock) = RunLock::try_acquire()? else {
        return Err(host_err(format!(
            "a faultline run is in progress (it holds {}); stop it first, it heals on exit",
            RunLock::path().display()
        )));
    };
    heal_unlocked(None)
}

#[cfg(test)]
mod tests {
    use super::*;

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
