//! iptables chains of our own inside each node's network namespace.
//!
//! Faults never touch a node's built-in chains beyond one jump from `INPUT`
//! or `OUTPUT` to each chain of ours ([`PARTITION_CHAIN`],
//! [`PARTITION_OUT_CHAIN`], [`LOSS_CHAIN`], [`ELECTION_CHAIN`]); healing flushes our chains. Rules are applied with one `sh -c` per node (one
//! round trip, and the node's rules change together); every token is
//! checked against a strict alphabet first, so nothing is ever interpreted
//! by the shell.

use crate::remote::Node;
use crate::remote::RemoteError;

/// The chain holding partition rules on incoming packets (hooked from INPUT).
pub const PARTITION_CHAIN: &str = "FAULTLINE-PART";
/// The chain holding partition rules on outgoing packets (hooked from OUTPUT).
pub const PARTITION_OUT_CHAIN: &str = "FAULTLINE-PART-OUT";
/// The chain holding packet-loss rules.
pub const LOSS_CHAIN: &str = "FAULTLINE-LOSS";
/// The chain holding the election choreographies' cuts and holds
/// (hooked from INPUT).
pub const ELECTION_CHAIN: &str = "FAULTLINE-ELECT";

/// A token is safe to put in a shell line unquoted.
fn safe_token(t: &str) -> bool {
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/' | '!'))
}

fn check_tokens(node: &Node, tokens: &[String]) -> Result<(), RemoteError> {
    match tokens.iter().find(|t| !safe_token(t)) {
        None => Ok(()),
        Some(bad) => Err(RemoteError::Failed {
            node: node.name.clone(),
            cmd: tokens.join(" "),
            status: -1,
            stderr: format!("refusing unsafe iptables token {bad:?}"),
        }),
    }
}

fn run_script(node: &Node, script: &str) -> Result<(), RemoteError> {
    node.remote.exec_ok(&["sh", "-c", script]).map(|_| ())
}

/// The built-in chain that jumps to `chain`.
fn hook_of(chain: &str) -> &'static str {
    if chain == PARTITION_OUT_CHAIN {
        "OUTPUT"
    } else {
        "INPUT"
    }
}

/// One rule's arguments (after `-A CHAIN`).
pub fn rule(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// A rule refusing TCP from (`-s`) or to (`-d`) `host` with a reset, with
/// `matches` (e.g. a conntrack direction) before the target: the peer's
/// connect or send fails at once, where a dropped segment would be
/// retransmitted for seconds after the heal.
pub fn reset_tcp(dir: &str, host: &str, matches: &[&str]) -> Vec<String> {
    let mut r = rule(&[dir, host, "-p", "tcp"]);
    r.extend(rule(matches));
    r.extend(rule(&["-j", "REJECT", "--reject-with", "tcp-reset"]));
    r
}

/// Create `chain` (if missing) and jump to it from its hook (once).
pub fn ensure_chain(node: &Node, chain: &str) -> Result<(), RemoteError> {
    let hook = hook_of(chain);
    let script = format!(
        "iptables -w -N {chain} 2>/dev/null; \
         iptables -w -C {hook} -j {chain} 2>/dev/null || iptables -w -I {hook} -j {chain}"
    );
    run_script(node, &script)
}

/// [`ensure_chain`] for each of `chains` on every node (a nemesis's setup).
pub fn ensure_chains(nodes: &[Node], chains: &[&str]) -> Result<(), RemoteError> {
    for node in nodes {
        for chain in chains {
            ensure_chain(node, chain)?;
        }
    }
    Ok(())
}

/// Replace the rules of `chain` with `rules` (each a list of iptables
/// arguments after `-A CHAIN`), creating the chain when needed.
pub fn set_rules(node: &Node, chain: &str, rules: &[Vec<String>]) -> Result<(), RemoteError> {
    let hook = hook_of(chain);
    let mut script = format!(
        "iptables -w -N {chain} 2>/dev/null; \
         (iptables -w -C {hook} -j {chain} 2>/dev/null || iptables -w -I {hook} -j {chain}) && \
         iptables -w -F {chain}"
    );
    for rule in rules {
        check_tokens(node, rule)?;
        script.push_str(&format!(" && iptables -w -A {chain} {}", rule.join(" ")));
    }
    run_script(node, &script)
}

/// Remove every rule of `chain`; a missing chain is already healed.
pub fn flush(node: &Node, chain: &str) -> Result<(), RemoteError> {
    let script =
        format!("if iptables -w -n -L {chain} >/dev/null 2>&1; then iptables -w -F {chain}; fi");
    run_script(node, &script)
}

/// Flush `chains` on every node, going on past failures: the names of the
/// nodes healed, or the first error met.
pub fn flush_all(nodes: &[Node], chains: &[&str]) -> Result<Vec<String>, RemoteError> {
    let mut healed = Vec::new();
    let mut first_err = None;
    for node in nodes {
        match chains.iter().try_for_each(|c| flush(node, c)) {
            Ok(()) => healed.push(node.name.clone()),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        None => Ok(healed),
        Some(e) => Err(e),
    }
}

/// The number of rules in `chain` (0 when it does not exist).
pub fn rule_count(node: &Node, chain: &str) -> Result<usize, RemoteError> {
    let out = node.remote.exec(&["iptables", "-w", "-S", chain])?;
    if !out.success() {
        return Ok(0);
    }
    Ok(out.stdout.lines().filter(|l| l.starts_with("-A ")).count())
}

#[cfg(test)]
mod tests {
    use super::{reset_tcp, safe_token};

    #[test]
    fn a_tcp_reset_rule_puts_its_matches_before_the_target() {
        assert_eq!(
            reset_tcp(
                "-s",
                "10.213.7.12",
                &["-m", "conntrack", "--ctdir", "ORIGINAL"]
            )
            .join(" "),
            "-s 10.213.7.12 -p tcp -m conntrack --ctdir ORIGINAL -j REJECT --reject-with tcp-reset"
        );
        assert_eq!(
            reset_tcp("-d", "10.213.7.11", &[]).join(" "),
            "-d 10.213.7.11 -p tcp -j REJECT --reject-with tcp-reset"
        );
    }

    #[test]
    fn shell_metacharacters_are_refused() {
        for ok in ["10.213.7.11", "tcp-reset", "REJECT", "0.25", "!"] {
            assert!(safe_token(ok), "{ok}");
        }
        for bad in ["", "a;b", "$(x)", "a b", "`x`", "a|b", "a>b"] {
            assert!(!safe_token(bad), "{bad}");
        }
    }
}
