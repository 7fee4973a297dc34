//! Host keys: a host's key is checked against a known_hosts file (plain,
//! hashed `|1|...` and `[host]:port` entries), and an unknown host is
//! refused unless the user opted out, in which case faultline warns, once
//! per host. A key that contradicts the file is always refused.

use russh::keys::{HashAlg, PublicKey};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// What known_hosts says about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Listed with this key.
    Known,
    /// Not listed (or listed only with keys of other algorithms).
    Unknown,
    /// Listed with another key of the same algorithm, at this line.
    Changed {
        /// The 1-based line of the entry it contradicts.
        line: usize,
    },
}

/// Check `key`, offered by `host` on `port`, against the known_hosts file
/// `file` (a missing file lists nothing). Errors name the file when it
/// cannot be read or holds a key that cannot be parsed.
pub fn verify(file: &Path, host: &str, port: u16, key: &PublicKey) -> Result<Verdict, String> {
    match russh::keys::check_known_hosts_path(host, port, key, file) {
        Ok(true) => Ok(Verdict::Known),
        Ok(false) => Ok(Verdict::Unknown),
        Err(russh::keys::Error::KeyChanged { line }) => Ok(Verdict::Changed { line }),
        Err(e) => Err(format!("cannot read known_hosts {}: {e}", file.display())),
    }
}

/// The OpenSSH spelling of a host in known_hosts and ssh-keyscan.
pub fn host_port(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// `SHA256:...`, as `ssh-keygen -l` prints a key's fingerprint.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Why an unknown host is refused, and the two ways to fix it.
pub fn unknown_message(node: &str, host: &str, port: u16, key: &PublicKey, file: &Path) -> String {
    let port_flag = if port == 22 {
        String::new()
    } else {
        format!("-p {port} ")
    };
    format!(
        "host key of {node} ({host}:{port}) is not in {file} ({alg} {fp}): check it, then add it \
         with `ssh-keyscan -H {port_flag}{host} >> {file}`, or set `accept-unknown-host-keys: true` \
         in the cluster file's ssh section",
        file = file.display(),
        alg = key.algorithm(),
        fp = fingerprint(key),
    )
}

/// Why a changed key is refused.
pub fn changed_message(node: &str, host: &str, port: u16, line: usize, file: &Path) -> String {
    format!(
        "host key for {node} ({host}:{port}) does not match known_hosts line {line} ({file}): \
         possible man-in-the-middle; if the host was reinstalled, remove the old entry with \
         `ssh-keygen -R {hp} -f {file}`",
        file = file.display(),
        hp = host_port(host, port),
    )
}

/// Print, once per host in this process, that `host`'s key was accepted
/// unverified.
pub fn warn_unverified(node: &str, host: &str, port: u16, key: &PublicKey) {
    static WARNED: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    let first = crate::sync::lock(WARNED.get_or_init(|| Mutex::new(BTreeSet::new())))
        .insert(format!("{host}:{port}"));
    if first {
        eprintln!(
            "WARNING: host key of {node} ({host}:{port}) NOT VERIFIED ({} {}): accepted because \
             the cluster file sets accept-unknown-host-keys; anyone between here and the host \
             could be answering",
            key.algorithm(),
            fingerprint(key)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIKFQN0+scGnfctoZAfXsZrlhPnpCGiEuVKxZz8knfOUG";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIPVZrcQ/Y0HKUI+B9wZiuXI27WhcahQzdMD6JWZJew1S";

    fn key(b64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(b64).expect("a valid key")
    }

    fn file(lines: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(lines.as_bytes()).expect("write");
        f
    }

    #[test]
    fn a_listed_key_is_known_and_another_host_unknown() {
        let f = file(&format!("10.0.0.1 ssh-ed25519 {KEY_A}\n"));
        assert_eq!(
            verify(f.path(), "10.0.0.1", 22, &key(KEY_A)),
            Ok(Verdict::Known)
        );
        assert_eq!(
            verify(f.path(), "10.0.0.2", 22, &key(KEY_A)),
            Ok(Verdict::Unknown)
        );
        // The same host on another port is another entry.
        assert_eq!(
            verify(f.path(), "10.0.0.1", 2222, &key(KEY_A)),
            Ok(Verdict::Unknown)
        );
    }

    #[test]
    fn a_different_key_for_a_listed_host_is_changed_naming_the_line() {
        let f = file(&format!(
            "# comment\n10.0.0.9 ssh-ed25519 {KEY_B}\n10.0.0.1 ssh-ed25519 {KEY_A}\n"
        ));
        assert_eq!(
            verify(f.path(), "10.0.0.1", 22, &key(KEY_B)),
            Ok(Verdict::Changed { line: 2 })
        );
    }

    #[test]
    fn bracketed_port_entries_match_their_port() {
        let f = file(&format!("[10.0.0.1]:2222 ssh-ed25519 {KEY_A}\n"));
        assert_eq!(
            verify(f.path(), "10.0.0.1", 2222, &key(KEY_A)),
            Ok(Verdict::Known)
        );
        assert_eq!(
            verify(f.path(), "10.0.0.1", 22, &key(KEY_A)),
            Ok(Verdict::Unknown)
        );
    }

    #[test]
    fn hashed_entries_from_ssh_keygen_match() {
        // Hash a plain file with OpenSSH's own ssh-keygen -H when it is
        // installed; the hashed line must still verify (and only for it).
        if std::process::Command::new("ssh-keygen")
            .arg("-?")
            .output()
            .is_err()
        {
            eprintln!("note: ssh-keygen missing, hashed entries not checked");
            return;
        }
        let f = file(&format!("10.0.0.7 ssh-ed25519 {KEY_A}\n"));
        let st = std::process::Command::new("ssh-keygen")
            .args(["-H", "-f"])
            .arg(f.path())
            .output()
            .expect("ssh-keygen -H");
        assert!(st.status.success(), "{st:?}");
        let text = std::fs::read_to_string(f.path()).expect("read");
        assert!(text.starts_with("|1|"), "{text}");
        assert_eq!(
            verify(f.path(), "10.0.0.7", 22, &key(KEY_A)),
            Ok(Verdict::Known)
        );
        assert_eq!(
            verify(f.path(), "10.0.0.8", 22, &key(KEY_A)),
            Ok(Verdict::Unknown)
        );
        assert_eq!(
            verify(f.path(), "10.0.0.7", 22, &key(KEY_B)),
            Ok(Verdict::Changed { line: 1 })
        );
        let _ = std::fs::remove_file(format!("{}.old", f.path().display()));
    }

    #[test]
    fn a_missing_file_lists_nothing() {
        let p = Path::new("/nonexistent/faultline/known_hosts");
        assert_eq!(verify(p, "10.0.0.1", 22, &key(KEY_A)), Ok(Verdict::Unknown));
    }

    #[test]
    fn messages_name_the_node_the_host_and_the_fix() {
        let f = Path::new("/root/.ssh/known_hosts");
        let m = unknown_message("n2", "10.213.7.12", 22, &key(KEY_A), f);
        assert!(m.contains("n2 (10.213.7.12:22)"), "{m}");
        assert!(
            m.contains("ssh-keyscan -H 10.213.7.12 >> /root/.ssh/known_hosts"),
            "{m}"
        );
        assert!(m.contains("accept-unknown-host-keys: true"), "{m}");
        assert!(m.contains("SHA256:"), "{m}");
        let m = unknown_message("n2", "h", 2222, &key(KEY_A), f);
        assert!(m.contains("ssh-keyscan -H -p 2222 h >>"), "{m}");
        let m = changed_message("n2", "10.213.7.12", 22, 7, f);
        assert!(
            m.starts_with(
                "host key for n2 (10.213.7.12:22) does not match known_hosts line 7 \
                 (/root/.ssh/known_hosts): possible man-in-the-middle"
            ),
            "{m}"
        );
    }
}
