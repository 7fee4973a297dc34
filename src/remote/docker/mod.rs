//! The docker backend: every node is a container on a network of its own.
//!
//! [`DockerBackend::provision`] checks that the engine answers (the docker
//! CLI is run as a user would, so `DOCKER_HOST` and contexts are honoured),
//! takes the docker run lock, removes what a killed run left, makes sure
//! the node image exists ([`image`]: a debootstrap root file system,
//! cached by content hash as `faultline-node:<hash>`), creates the network
//! [`NETWORK`] (`10.213.8.0/24`, gateway `10.213.8.1`) and, for the node
//! at 1-based position `i`, the container `faultline-<name>` with hostname
//! `<name>` at `10.213.8.(10+i)`. Each container has `NET_ADMIN` and
//! `SYS_ADMIN` (iptables inside; `--privileged` is refused on these
//! machines), docker-init as PID 1 (`--init`: it reaps killed daemons), the
//! host's CA certificates read-only (`/etc/ssl/certs`, so apt reaches the
//! mirror) and the harness's own binary bind-mounted read-only at
//! [`NODE_BINARY`]: the image never contains faultline, so a rebuilt
//! binary needs no rebuilt image. Everything carries the label
//! `faultline=1`, which is how [`DockerBackend::heal`] finds it — and
//! nothing else.
//!
//! One docker cluster runs at a time on a machine: the names and addresses
//! are fixed, and a run holds an exclusive `flock` ([`run_lock_path`]) for
//! its lifetime. `faultline heal` refuses while a live run holds it and
//! otherwise removes every labelled container and network. The image
//! cache is kept (remove it with `docker image rm faultline-node:<hash>`).
//!
//! [`DockerRemote`] is the [`crate::remote::Remote`] of one container,
//! through `docker exec`. Files: `cli.rs` (the docker command line),
//! `image.rs` (the node image), `remote.rs` ([`DockerRemote`]), `spec.rs`
//! (the `docker:` section).

mod cli;
pub mod image;
mod remote;
mod spec;

pub use remote::DockerRemote;
pub use spec::DockerSpec;

use crate::remote::backend::{Backend, BackendConfig, BackendError, Provision};
use crate::remote::{Node, RemoteError};
use cli::host_err;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The network every container is plugged into.
pub const NETWORK: &str = "faultline-net";
/// Its subnet (one the harness may contact, see [`crate::remote::contactable`]).
pub const SUBNET: &str = "10.213.8.0/24";
/// Its gateway: the harness's own address on it.
pub const GATEWAY: &str = "10.213.8.1";
/// Prefix of every container name: `faultline-<node>`.
pub const CONTAINER_PREFIX: &str = "faultline-";
/// The label every container, network and image of ours carries: key...
pub const LABEL_KEY: &str = "faultline";
/// ... and value (`faultline=1`).
pub const LABEL_VALUE: &str = "1";
/// Where the harness's binary appears in each container.
pub const NODE_BINARY: &str = "/usr/local/bin/faultline";
/// A node's data directory, in its container.
pub const DATA_DIR: &str = "/var/lib/faultline/data";
/// A node's log directory, in its container.
pub const LOG_DIR: &str = "/var/lib/faultline/logs";
/// The anonymous volume holding [`DATA_DIR`] and [`LOG_DIR`].
const DATA_VOLUME: &str = "type=volume,target=/var/lib/faultline";
/// How many nodes fit in 10.213.8.11 ..= 10.213.8.254.
pub const MAX_NODES: usize = 244;
/// The lock directory when running as root (else the temp directory).
pub const LOCK_DIR: &str = "/run/faultline/docker";

/// The directory of the docker backend's lock files: [`LOCK_DIR`] when it
/// can be created, else `$TMPDIR/faultline-docker`.
pub fn lock_dir() -> PathBuf {
    if fs::create_dir_all(LOCK_DIR).is_ok() {
        PathBuf::from(LOCK_DIR)
    } else {
        std::env::temp_dir().join("faultline-docker")
    }
}

/// The run lock: held by the one live docker run of this machine.
pub fn run_lock_path() -> PathBuf {
    lock_dir().join("run.lock")
}

/// The container of node `name`.
pub fn container_name(name: &str) -> String {
    format!("{CONTAINER_PREFIX}{name}")
}

/// The address of the node at 1-based position `i`: `10.213.8.(10+i)`.
pub fn node_addr(i: usize) -> String {
    format!("10.213.8.{}", 10 + i)
}

/// The label filter of everything ours (`label=faultline=1`).
fn label_filter() -> String {
    format!("label={LABEL_KEY}={LABEL_VALUE}")
}

/// An exclusive `flock` on a file, released when dropped or when the
/// holder dies (so a killed run never blocks the next one).
#[derive(Debug)]
struct FileLock {
    _file: nix::fcntl::Flock<File>,
}

impl FileLock {
    /// The lock on `path`, `None` when another process holds it.
    fn try_acquire(path: &Path) -> Result<Option<FileLock>, RemoteError> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| host_err(format!("{}: {e}", dir.display())))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| host_err(format!("{}: {e}", path.display())))?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(FileLock { _file: lock })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(host_err(format!("{}: flock: {e}", path.display()))),
        }
    }

    /// The lock on `path`, waiting up to `wait` for its holder.
    fn acquire(path: &Path, wait: Duration) -> Result<FileLock, RemoteError> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(lock) = Self::try_acquire(path)? {
                return Ok(lock);
            }
            if Instant::now() >= deadline {
                return Err(host_err(format!(
                    "another faultline run holds {} (it owns the docker cluster on network \
                     {NETWORK}); wait for it to finish or stop it",
                    path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Validate a node name: it becomes a container and host name.
fn check_node_name(name: &str) -> Result<(), RemoteError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(host_err(format!(
            "node name {name:?} is not usable for a container: use 1 to 40 letters, digits, \
             '-', '_' or '.', starting with a letter or digit"
        )))
    }
}

/// What [`remove_ours`] removed, as `faultline heal` prints it.
fn removed_lines(containers: &[String], networks: &[String]) -> String {
    let mut out = String::new();
    for c in containers {
        out.push_str(&format!("removed container {c}\n"));
    }
    for n in networks {
        out.push_str(&format!("removed network {n}\n"));
    }
    out
}

/// The names a `docker ... --format` listing prints, one per line.
fn listed(args: &[&str]) -> Result<Vec<String>, RemoteError> {
    Ok(cli::ok(args)?
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Remove every container and network labelled `faultline=1`, and nothing
/// else; returns their names.
fn remove_ours() -> Result<(Vec<String>, Vec<String>), RemoteError> {
    let filter = label_filter();
    let containers = listed(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"])?;
    if !containers.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(containers.iter().map(String::as_str));
        cli::ok(&args)?;
    }
    let networks = listed(&[
        "network",
        "ls",
        "--filter",
        &filter,
        "--format",
        "{{.Name}}",
    ])?;
    for n in &networks {
        cli::ok(&["network", "rm", n])?;
    }
    Ok((containers, networks))
}

/// The docker backend (see the module docs).
#[derive(Debug)]
pub struct DockerBackend {
    config: BackendConfig,
    /// The containers of the live cluster.
    containers: Vec<String>,
    /// Whether this backend created the network.
    network: bool,
    lock: Option<FileLock>,
}

impl DockerBackend {
    /// The backend `config` describes; nothing is created before
    /// [`Backend::provision`].
    pub fn new(config: &BackendConfig) -> Self {
        DockerBackend {
            config: config.clone(),
            containers: Vec::new(),
            network: false,
            lock: None,
        }
    }

    /// Create the network and the containers of `names` from `image`.
    fn create(
        &mut self,
        names: &[String],
        image: &str,
        binary: &Path,
    ) -> Result<Vec<Node>, RemoteError> {
        let cluster_label = format!("{LABEL_KEY}.cluster={}", self.config.cluster);
        let label = format!("{LABEL_KEY}={LABEL_VALUE}");
        cli::ok(&[
            "network",
            "create",
            "--driver",
            "bridge",
            "--subnet",
            SUBNET,
            "--gateway",
            GATEWAY,
            "--label",
            &label,
            "--label",
            &cluster_label,
            NETWORK,
        ])
        .map_err(|e| host_err(format!("creating docker network {NETWORK} ({SUBNET}): {e}")))?;
        self.network = true;
        let bin_mount = format!(
            "type=bind,source={},target={NODE_BINARY},readonly",
            binary.display()
        );
        let certs = Path::new("/etc/ssl/certs").is_dir();
        let mut nodes = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let container = container_name(name);
            let ip = node_addr(i + 1);
            let node_label = format!("{LABEL_KEY}.node={name}");
            let mut args = vec![
                "run",
                "-d",
                "--name",
                &container,
                "--hostname",
                name,
                "--network",
                NETWORK,
                "--ip",
                &ip,
                "--cap-add",
                "NET_ADMIN",
                "--cap-add",
                "SYS_ADMIN",
                "--init",
                "--label",
                &label,
                "--label",
                &cluster_label,
                "--label",
                &node_label,
                "--mount",
                &bin_mount,
                // Node data on an anonymous volume (the host's file system,
                // real fsync) rather than the fuse-overlayfs layer; `docker
                // rm -v` removes it with the container.
                "--mount",
                DATA_VOLUME,
            ];
            if certs {
                args.extend(["-v", "/etc/ssl/certs:/etc/ssl/certs:ro"]);
            }
            args.extend([image, "sleep", "infinity"]);
            // Remembered before it runs: a half-created container is removed too.
            self.containers.push(container.clone());
            cli::ok(&args).map_err(|e| {
                host_err(format!(
                    "starting container {container} for node {name}: {e}"
                ))
            })?;
            nodes.push(Node {
                name: name.clone(),
                host: ip,
                remote: Arc::new(DockerRemote::new(name, &container)),
                data_dir: PathBuf::from(DATA_DIR),
                log_dir: PathBuf::from(LOG_DIR),
                binary: Some(PathBuf::from(NODE_BINARY)),
            });
        }
        Ok(nodes)
    }

    /// Remove our containers and network; errors name what stayed.
    fn destroy(&mut self) -> Result<(), RemoteError> {
        let mut errors = Vec::new();
        if !self.containers.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(self.containers.iter().map(String::as_str));
            match cli::run(&args, "docker") {
                Ok(out) if out.success() || out.stderr.contains("No such container") => {}
                Ok(out) => errors.push(format!("docker rm: {}", out.stderr.trim())),
                Err(e) => errors.push(e.to_string()),
            }
            self.containers.clear();
        }
        if self.network {
            match cli::run(&["network", "rm", NETWORK], "docker") {
                Ok(out)
                    if out.success()
                        || out.stderr.contains("not found")
                        || out.stderr.contains("No such network") => {}
                Ok(out) => errors.push(format!("docker network rm: {}", out.stderr.trim())),
                Err(e) => errors.push(e.to_string()),
            }
            self.network = false;
        }
        self.lock = None;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(host_err(format!(
                "docker teardown left something behind ({}); run `faultline heal`",
                errors.join("; ")
            )))
        }
    }
}

impl Backend for DockerBackend {
    fn name(&self) -> &str {
        "docker"
    }

    fn max_nodes(&self) -> Option<usize> {
        Some(MAX_NODES)
    }

    /// Checks the engine, takes the run lock (waiting up to 30 s), removes
    /// what a killed run left, builds the node image if it is not cached,
    /// then creates the network and the containers. On failure, removes
    /// what it created.
    fn provision(&mut self, req: &Provision<'_>) -> Result<Vec<Node>, BackendError> {
        let ctx = "docker backend";
        let fail = |e| BackendError::remote(ctx, e);
        if req.names.is_empty() {
            return Err(fail(host_err("a docker cluster needs at least one node")));
        }
        if req.names.len() > MAX_NODES {
            return Err(fail(host_err(format!(
                "{} nodes requested; the docker backend fits at most {MAX_NODES} in {SUBNET}",
                req.names.len()
            ))));
        }
        for (i, n) in req.names.iter().enumerate() {
            check_node_name(n).map_err(fail)?;
            if req.names[..i].contains(n) {
                return Err(fail(host_err(format!("node name {n:?} appears twice"))));
            }
        }
        let binary = fs::canonicalize(req.binary).map_err(|e| {
            fail(host_err(format!(
                "the faultline binary {} to mount into the containers: {e}",
                req.binary.display()
            )))
        })?;
        if binary.to_string_lossy().contains(',') {
            return Err(fail(host_err(format!(
                "the faultline binary's path {} contains a comma, which docker's --mount \
                 cannot take: move it",
                binary.display()
            ))));
        }
        cli::require_engine().map_err(fail)?;
        let recipe = image::Recipe::from_spec(&self.config.docker).map_err(fail)?;
        self.lock =
            Some(FileLock::acquire(&run_lock_path(), Duration::from_secs(30)).map_err(fail)?);
        let (old_containers, old_networks) = remove_ours().map_err(fail)?;
        let left = removed_lines(&old_containers, &old_networks);
        if !left.is_empty() {
            eprint!("docker: a previous run left these behind:\n{left}");
        }
        let image = match image::ensure(&recipe) {
            Ok(tag) => tag,
            Err(e) => {
                self.lock = None;
                return Err(fail(e));
            }
        };
        match self.create(req.names, &image, &binary) {
            Ok(nodes) => Ok(nodes),
            Err(e) => {
                let _ = self.destroy();
                Err(fail(e))
            }
        }
    }

    /// `docker rm -f` on our containers, then the network; idempotent.
    fn teardown(&mut self) -> Result<(), RemoteError> {
        self.destroy()
    }

    /// Forget the containers (they keep running) and release the run lock.
    fn leave(&mut self) {
        self.containers.clear();
        self.network = false;
        self.lock = None;
    }

    /// Every container and network labelled `faultline=1`, one line each;
    /// nothing at all when there is no Docker engine. Refuses while a live
    /// run holds the run lock. Images are a cache and stay.
    fn heal(&self) -> Result<String, RemoteError> {
        if !cli::engine_answers() {
            return Ok(String::new());
        }
        let path = run_lock_path();
        let Some(_lock) = FileLock::try_acquire(&path)? else {
            return Err(host_err(format!(
                "a live faultline run holds {} (its docker cluster is in use); wait for it \
                 to finish or stop it, then heal",
                path.display()
            )));
        };
        let (containers, networks) = remove_ours()?;
        let lines = removed_lines(&containers, &networks);
        Ok(if lines.is_empty() {
            "nothing to heal on docker: no faultline container or network left\n".into()
        } else {
            lines
        })
    }
}

impl Drop for DockerBackend {
    /// A backend dropped with live containers (neither torn down nor left)
    /// removes them.
    fn drop(&mut self) {
        if !self.containers.is_empty() || self.network {
            let _ = self.destroy();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_follow_the_contract() {
        assert_eq!(container_name("n1"), "faultline-n1");
        assert_eq!(node_addr(1), "10.213.8.11");
        assert_eq!(node_addr(MAX_NODES), "10.213.8.254");
        assert!(crate::remote::contactable(&node_addr(3)));
        assert!(crate::remote::contactable(GATEWAY));
    }

    #[test]
    fn node_names_must_make_container_names() {
        assert!(check_node_name("n1").is_ok());
        assert!(check_node_name("db-2.a").is_ok());
        for bad in ["", "-n", "a b", "n/1", ".n"] {
            assert!(check_node_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn heal_lines_name_each_item() {
        let text = removed_lines(&["faultline-n1".into()], &[NETWORK.into()]);
        assert_eq!(
            text,
            "removed container faultline-n1\nremoved network faultline-net\n"
        );
    }
}
