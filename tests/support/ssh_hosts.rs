//! Real SSH hosts for the ssh backend's tests: one network namespace per
//! host (the library's `LocalNet`, which also holds the local run lock),
//! each running OpenSSH's own `sshd` on the namespace's address with host
//! keys, a user key and a known_hosts file made for the test in a temp
//! dir. Dropping it stops the sshds and removes the namespaces: nothing is
//! left behind. Namespaces share this machine's files, so each test uses a
//! temp `ssh.dir` and nodes keep apart through `<dir>/<node>/`.
#![allow(dead_code)]

use faultline::remote::local::LocalNet;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// True when we run as root; otherwise prints loudly why the test is skipped.
pub fn root_or_skip(test: &str) -> bool {
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !root {
        eprintln!(
            "\n!!! SKIPPING {test}: the ssh backend's tests need root (network namespaces, sshd) !!!\n"
        );
    }
    root
}

fn run(argv: &[&str]) -> std::process::Output {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(out.status.success(), "{argv:?}: {out:?}");
    out
}

/// Install Debian packages on this machine (the namespaces share its
/// files), with services kept from starting, as faultline installs.
pub fn apt_install(packages: &[&str]) {
    let mut argv = vec![
        "sh",
        "-c",
        faultline::remote::INSTALL_SCRIPT,
        "faultline-install",
    ];
    argv.extend_from_slice(packages);
    run(&argv);
}

/// Make sure OpenSSH's server is installed.
fn ensure_sshd() {
    if !Path::new("/usr/sbin/sshd").exists() {
        apt_install(&["openssh-server"]);
    }
}

/// `n` SSH hosts in namespaces.
pub struct SshHosts {
    sshds: Vec<Child>,
    net: Option<LocalNet>,
    /// Their addresses, `n1`'s first.
    pub addrs: Vec<String>,
    /// The temp dir: keys, configs, known_hosts, sshd logs.
    pub tmp: tempfile::TempDir,
    /// The user's private key, which every host accepts for root.
    pub key: PathBuf,
    /// A known_hosts file listing every host (hashed entries).
    pub known_hosts: PathBuf,
    /// The `ssh.dir` for faultline on the hosts.
    pub dir: PathBuf,
    made_run_sshd: bool,
}

impl SshHosts {
    /// Start them.
    pub fn start(n: usize) -> SshHosts {
        ensure_sshd();
        faultline::remote::local::ensure_prerequisites(true).expect("iptables, faketime");
        let tmp = tempfile::tempdir().expect("tempdir");
        let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let work = tmp.path().join("net");
        let (net, nodes) = LocalNet::create(&names, &work).expect("LocalNet::create");
        let made_run_sshd = !Path::new("/run/sshd").exists();
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let mut hosts = SshHosts {
            sshds: Vec::new(),
            net: Some(net),
            addrs: nodes.iter().map(|n| n.host.clone()).collect(),
            key: tmp.path().join("id_ed25519"),
            known_hosts: tmp.path().join("known_hosts"),
            dir: tmp.path().join("faultline"),
            tmp,
            made_run_sshd,
        };
        let t = hosts.tmp.path().to_path_buf();
        let key = hosts.key.to_string_lossy().to_string();
        run(&[
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "faultline-test",
            "-f",
            &key,
        ]);
        std::fs::copy(t.join("id_ed25519.pub"), t.join("authorized_keys"))
            .expect("authorized_keys");
        let mut known = String::new();
        for (name, addr) in names.iter().zip(hosts.addrs.clone()) {
            let hk = t.join(format!("host_{name}"));
            run(&[
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-f",
                &hk.to_string_lossy(),
            ]);
            let pubkey = std::fs::read_to_string(t.join(format!("host_{name}.pub"))).expect("pub");
            let mut words = pubkey.split_whitespace();
            let (alg, b64) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            known.push_str(&format!("{addr} {alg} {b64}\n"));
            let cfg = t.join(format!("sshd_{name}.conf"));
            std::fs::write(
                &cfg,
                format!(
                    "ListenAddress {addr}\nPort 22\nHostKey {hk}\nAuthorizedKeysFile {ak}\n\
                     PidFile {pid}\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\nMaxSessions 20\n\
                     LogLevel ERROR\n",
                    hk = hk.display(),
                    ak = t.join("authorized_keys").display(),
                    pid = t.join(format!("sshd_{name}.pid")).display(),
                ),
            )
            .expect("sshd config");
            let log = std::fs::File::create(t.join(format!("sshd_{name}.log"))).expect("log");
            let child = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &format!("faultline-{name}"),
                    "/usr/sbin/sshd",
                    "-D",
                    "-e",
                    "-f",
                ])
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("sshd starts");
            hosts.sshds.push(child);
        }
        std::fs::write(&hosts.known_hosts, known).expect("known_hosts");
        // Hashed entries, as `HashKnownHosts yes` writes them.
        run(&[
            "ssh-keygen",
            "-q",
            "-H",
            "-f",
            &hosts.known_hosts.to_string_lossy(),
        ]);
        let _ = std::fs::remove_file(format!("{}.old", hosts.known_hosts.display()));
        for addr in &hosts.addrs {
            wait_port(addr, 22);
        }
        hosts
    }

    /// A cluster file for `db` on these hosts (`extra`: more lines of the
    /// ssh section, indented by two spaces), written in the temp dir.
    pub fn cluster_file(&self, file: &str, db: &str, extra: &str) -> PathBuf {
        let hosts: Vec<String> = self.addrs.iter().map(|a| format!("\"{a}\"")).collect();
        let text = format!(
            "db: {db}\nbackend: ssh\nnodes: {n}\nssh:\n  hosts: [{hosts}]\n  user: root\n  \
             key: {key}\n  known-hosts: {kh}\n  dir: {dir}\n  connect-timeout: 2\n  retries: 2\n{extra}",
            n = self.addrs.len(),
            hosts = hosts.join(", "),
            key = self.key.display(),
            kh = self.known_hosts.display(),
            dir = self.dir.display(),
        );
        let path = self.tmp.path().join(format!("{file}.yaml"));
        std::fs::write(&path, text).expect("cluster file");
        path
    }
}

/// Wait (up to 10 s) until something listens on `addr:port`.
pub fn wait_port(addr: &str, port: u16) {
    let sa: SocketAddr = format!("{addr}:{port}").parse().expect("address");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&sa, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "sshd on {sa} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for SshHosts {
    fn drop(&mut self) {
        for c in &mut self.sshds {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(net) = self.net.take() {
            // Kills what is left in the namespaces (sshd's session
            // processes) and deletes them.
            let _ = net.destroy();
        }
        if self.made_run_sshd {
            let _ = std::fs::remove_dir("/run/sshd");
        }
    }
}
