//! The node image: a Debian root file system made by `debootstrap
//! --variant=minbase` with what every node needs (iproute2, iptables,
//! libfaketime, procps, ca-certificates) and the cluster file's
//! `docker.packages`, imported with `docker import` as
//! `faultline-node:<hash>`. The hash covers everything the image is made
//! from ([`RECIPE_VERSION`], suite, mirror, the sorted package list), so
//! a changed list is a new tag and an unchanged one reuses the cached
//! image. The faultline binary is not in it: the backend bind-mounts it
//! into each container, so a rebuilt binary needs no new image.

use super::cli::{self, host_err};
use super::spec::DockerSpec;
use super::{lock_dir, LABEL_KEY, LABEL_VALUE};
use crate::remote::RemoteError;
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bumped whenever what [`build`] puts in an image changes, so old cached
/// images are not reused.
pub const RECIPE_VERSION: u32 = 1;

/// The repository every node image is tagged in.
pub const REPOSITORY: &str = "faultline-node";

/// What every node needs, whatever the cluster.
pub const BASE_PACKAGES: &[&str] = &[
    "iproute2",
    "iptables",
    "libfaketime",
    "procps",
    "ca-certificates",
];

/// The recipe of one image: what [`build`] bootstraps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// The Debian release.
    pub suite: String,
    /// The mirror debootstrap downloads from.
    pub mirror: String,
    /// Every package, base ones included, sorted and without duplicates.
    pub packages: Vec<String>,
}

impl Recipe {
    /// The recipe `spec` asks for; the mirror defaults to the harness
    /// machine's first apt source.
    pub fn from_spec(spec: &DockerSpec) -> Result<Recipe, RemoteError> {
        let mirror = match &spec.mirror {
            Some(m) => m.clone(),
            None => host_mirror().ok_or_else(|| {
                host_err(
                    "docker.mirror is not set and no Debian mirror was found in \
                     /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list: set \
                     docker.mirror in the cluster file (e.g. http://deb.debian.org/debian)",
                )
            })?,
        };
        let mut packages: Vec<String> = BASE_PACKAGES
            .iter()
            .map(|p| p.to_string())
            .chain(spec.packages.iter().cloned())
            .collect();
        packages.sort();
        packages.dedup();
        for p in &packages {
            let ok = !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'));
            if !ok {
                return Err(host_err(format!(
                    "docker.packages: {p:?} is not a Debian package name"
                )));
            }
        }
        if !spec
            .suite
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
            || spec.suite.is_empty()
        {
            return Err(host_err(format!(
                "docker.suite: {:?} is not a Debian release name",
                spec.suite
            )));
        }
        Ok(Recipe {
            suite: spec.suite.clone(),
            mirror,
            packages,
        })
    }

    /// The content hash of the recipe: 12 hex digits of FNV-1a (64 bits)
    /// over the recipe version, suite, mirror and packages.
    pub fn hash(&self) -> String {
        let text = format!(
            "faultline-node v{RECIPE_VERSION}\nsuite {}\nmirror {}\npackages {}\n",
            self.suite,
            self.mirror,
            self.packages.join(",")
        );
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{h:016x}")[..12].to_string()
    }

    /// The image's tag, `faultline-node:<hash>`.
    pub fn tag(&self) -> String {
        format!("{REPOSITORY}:{}", self.hash())
    }
}

/// The first `http(s)://` URI of the harness machine's apt sources: deb822
/// files first (`URIs:`), then the one-line `sources.list`.
pub fn host_mirror() -> Option<String> {
    let mut files: Vec<PathBuf> = fs::read_dir("/etc/apt/sources.list.d")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sources"))
        .collect();
    files.sort();
    for f in files {
        if let Some(m) = fs::read_to_string(&f)
            .ok()
            .and_then(|t| mirror_in_deb822(&t))
        {
            return Some(m);
        }
    }
    fs::read_to_string("/etc/apt/sources.list")
        .ok()
        .and_then(|t| mirror_in_list(&t))
}

/// The first URI of a deb822 sources file whose stanza is not a security
/// archive.
fn mirror_in_deb822(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("URIs:"))
        .flat_map(str::split_whitespace)
        .find(|u| u.starts_with("http") && !u.contains("security"))
        .map(|u| u.trim_end_matches('/').to_string())
}

/// The first `deb URI` of a one-line sources list.
fn mirror_in_list(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("deb "))
        .flat_map(|l| l.split_whitespace().skip(1))
        .find(|u| u.starts_with("http") && !u.contains("security"))
        .map(|u| u.trim_end_matches('/').to_string())
}

/// The image id of `tag`, when the engine has it.
pub fn image_id(tag: &str) -> Result<Option<String>, RemoteError> {
    let out = cli::run(&["image", "inspect", "--format", "{{.Id}}", tag], "docker")?;
    Ok(out
        .success()
        .then(|| out.stdout.trim().to_string())
        .filter(|s| !s.is_empty()))
}

/// The image of `recipe`: the cached one when it exists, else built now
/// (about 2 minutes, once per machine and recipe) under an exclusive lock,
/// so two runs never build the same image twice. Returns the tag.
pub fn ensure(recipe: &Recipe) -> Result<String, RemoteError> {
    let tag = recipe.tag();
    if image_id(&tag)?.is_some() {
        return Ok(tag);
    }
    let _lock = BuildLock::acquire(&recipe.hash())?;
    // Another run may have built it while we waited.
    if image_id(&tag)?.is_some() {
        return Ok(tag);
    }
    build(recipe, &tag)?;
    Ok(tag)
}

/// An exclusive `flock` on `LOCK_DIR/image-<hash>.lock`, released when
/// dropped (or when the holder dies).
struct BuildLock {
    _file: nix::fcntl::Flock<File>,
}

impl BuildLock {
    fn acquire(hash: &str) -> Result<BuildLock, RemoteError> {
        let dir = lock_dir();
        let path = dir.join(format!("image-{hash}.lock"));
        fs::create_dir_all(&dir).map_err(|e| host_err(format!("{}: {e}", dir.display())))?;
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| host_err(format!("{}: {e}", path.display())))?;
        let mut said = false;
        let deadline = Instant::now() + Duration::from_secs(15 * 60);
        loop {
            match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(BuildLock { _file: lock }),
                Err((f, nix::errno::Errno::EWOULDBLOCK)) => {
                    if !said {
                        eprintln!(
                            "another faultline run is building node image {REPOSITORY}:{hash}; \
                             waiting for it"
                        );
                        said = true;
                    }
                    if Instant::now() >= deadline {
                        return Err(host_err(format!(
                            "{} is still held after 15 minutes: another run's image build \
                             hangs; stop it",
                            path.display()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(500));
                    file = f;
                }
                Err((_, e)) => {
                    return Err(host_err(format!("{}: flock: {e}", path.display())));
                }
            }
        }
    }
}

/// A temporary build directory, unmounted and removed when dropped.
struct BuildDir(PathBuf);

impl Drop for BuildDir {
    fn drop(&mut self) {
        unmount_below(&self.0);
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Lazily unmount whatever a failed debootstrap left mounted below `dir`
/// (`/proc`, `/sys`), deepest first, so that removing the directory never
/// reaches into a live file system.
fn unmount_below(dir: &Path) {
    let Ok(mounts) = fs::read_to_string("/proc/self/mounts") else {
        return;
    };
    let prefix = format!("{}/", dir.display());
    let mut below: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    below.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in below {
        let _ = Command::new("umount").args(["-l", m]).status();
    }
}

/// True when debootstrap is on this machine.
fn has_debootstrap() -> bool {
    Path::new("/usr/sbin/debootstrap").exists() || which("debootstrap").is_some()
}

/// Install Debian's debootstrap on this machine when it is missing (as the
/// local backend installs iptables): a fresh machine builds its node image
/// without a manual step. A failed install names the package to install.
fn install_debootstrap(tag: &str) -> Result<(), RemoteError> {
    if has_debootstrap() {
        return Ok(());
    }
    eprintln!("installing debootstrap (apt-get), needed to build node image {tag}");
    let out = Command::new("sh")
        .args(["-c", crate::remote::INSTALL_SCRIPT, "sh", "debootstrap"])
        .output()
        .map_err(|e| host_err(format!("cannot run apt-get to install debootstrap: {e}")))?;
    if out.status.success() && has_debootstrap() {
        return Ok(());
    }
    Err(host_err(format!(
        "node image {tag} is not built yet and debootstrap is not installed; \
         `apt-get install debootstrap` failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// Bootstrap, adjust and import the image `tag` of `recipe`.
fn build(recipe: &Recipe, tag: &str) -> Result<(), RemoteError> {
    if !is_root() {
        return Err(host_err(format!(
            "node image {tag} is not built yet and building it (debootstrap) needs root: \
             run this once as root (sudo)"
        )));
    }
    install_debootstrap(tag)?;
    eprintln!("building node image {tag} (debootstrap, ~2 min, once)");
    let started = Instant::now();
    let base = if Path::new("/var/tmp").is_dir() {
        PathBuf::from("/var/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = BuildDir(base.join(format!(
        "faultline-image-{}-{}",
        recipe.hash(),
        std::process::id()
    )));
    let _ = fs::remove_dir_all(&dir.0);
    let root = dir.0.join("root");
    fs::create_dir_all(&root).map_err(|e| host_err(format!("{}: {e}", root.display())))?;
    let log_path = dir.0.join("debootstrap.log");
    let log =
        File::create(&log_path).map_err(|e| host_err(format!("{}: {e}", log_path.display())))?;
    let log2 = log
        .try_clone()
        .map_err(|e| host_err(format!("{}: {e}", log_path.display())))?;
    let include = format!("--include={}", recipe.packages.join(","));
    let status = Command::new("debootstrap")
        .args(["--variant=minbase", &include, &recipe.suite])
        .arg(&root)
        .arg(&recipe.mirror)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .status()
        .map_err(|e| host_err(format!("cannot run debootstrap: {e}")))?;
    if !status.success() {
        return Err(host_err(format!(
            "building node image {tag}: debootstrap {} {} failed ({status}); last lines of \
             its log:\n{}",
            recipe.suite,
            recipe.mirror,
            last_lines(&log_path, 12)
        )));
    }
    adjust(&root).map_err(|e| host_err(format!("building node image {tag}: {e}")))?;
    import(&root, recipe, tag)?;
    eprintln!(
        "built node image {tag} in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Make the root file system a node: iptables on the legacy backend (the
/// host's kernel rules stay apart from nft's), no apt caches, no
/// recommends, the run directory.
fn adjust(root: &Path) -> Result<(), String> {
    let chroot = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("chroot")
            .arg(root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("chroot {}: {e}", args.join(" ")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "chroot {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    chroot(&[
        "update-alternatives",
        "--set",
        "iptables",
        "/usr/sbin/iptables-legacy",
    ])?;
    chroot(&["apt-get", "clean"])?;
    let conf = root.join("etc/apt/apt.conf.d/99faultline");
    fs::write(
        &conf,
        "APT::Install-Recommends \"false\";\nAPT::Install-Suggests \"false\";\n",
    )
    .map_err(|e| format!("{}: {e}", conf.display()))?;
    let lists = root.join("var/lib/apt/lists");
    if let Ok(entries) = fs::read_dir(&lists) {
        for e in entries.flatten() {
            if e.path().is_file() {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// `tar -C root -c . | docker import` with the faultline labels.
fn import(root: &Path, recipe: &Recipe, tag: &str) -> Result<(), RemoteError> {
    let mut tar = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(root)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| host_err(format!("cannot run tar: {e}")))?;
    let Some(tar_out) = tar.stdout.take() else {
        return Err(host_err("tar gave no output pipe"));
    };
    let label = format!("LABEL {LABEL_KEY}={LABEL_VALUE}");
    let packages = format!("LABEL faultline.packages={}", recipe.packages.join(","));
    let version = format!("LABEL faultline.recipe={RECIPE_VERSION}");
    let import = Command::new("docker")
        .args([
            "import", "--change", &label, "--change", &packages, "--change", &version, "-", tag,
        ])
        .stdin(Stdio::from(tar_out))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| host_err(format!("cannot run docker import: {e}")))?;
    let mut tar_err = String::new();
    if let Some(mut e) = tar.stderr.take() {
        let _ = e.read_to_string(&mut tar_err);
    }
    let tar_status = tar.wait().map_err(|e| host_err(format!("tar: {e}")))?;
    if !tar_status.success() || !import.status.success() {
        return Err(host_err(format!(
            "importing node image {tag} failed: tar {tar_status}: {}; docker import: {}",
            tar_err.trim(),
            String::from_utf8_lossy(&import.stderr).trim()
        )));
    }
    Ok(())
}

/// The last `n` lines of a file, for an error message.
fn last_lines(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// True when running as root (`/proc/self` is owned by the effective uid).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// The full path of `program` on PATH.
fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(packages: &[&str]) -> DockerSpec {
        DockerSpec {
            suite: "bookworm".into(),
            mirror: Some("http://deb.debian.org/debian".into()),
            packages: packages.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn the_hash_depends_on_the_package_set_not_its_order() {
        let a = Recipe::from_spec(&spec(&["etcd-server", "procps"])).expect("recipe");
        let b = Recipe::from_spec(&spec(&["procps", "etcd-server", "procps"])).expect("recipe");
        let c = Recipe::from_spec(&spec(&["procps"])).expect("recipe");
        assert_eq!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash());
        assert_eq!(a.hash().len(), 12);
        assert!(a.tag().starts_with("faultline-node:"));
        for base in BASE_PACKAGES {
            assert!(c.packages.iter().any(|p| p == base));
        }
    }

    #[test]
    fn the_hash_depends_on_suite_and_mirror() {
        let a = Recipe::from_spec(&spec(&[])).expect("recipe");
        let mut other = spec(&[]);
        other.mirror = Some("http://mirror.example/debian".into());
        let b = Recipe::from_spec(&other).expect("recipe");
        other.suite = "trixie".into();
        let c = Recipe::from_spec(&other).expect("recipe");
        assert_ne!(a.hash(), b.hash());
        assert_ne!(b.hash(), c.hash());
    }

    #[test]
    fn bad_package_names_are_refused_by_name() {
        let Err(e) = Recipe::from_spec(&spec(&["etcd; rm -rf /"])) else {
            panic!("a shell line is no package");
        };
        assert!(e.to_string().contains("docker.packages"), "{e}");
    }

    #[test]
    fn mirrors_are_read_from_both_source_formats() {
        let deb822 = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n\n\
                      Types: deb\nURIs: http://deb.debian.org/debian-security\n";
        assert_eq!(
            mirror_in_deb822(deb822).as_deref(),
            Some("http://deb.debian.org/debian")
        );
        let list = "# comment\ndeb http://security.debian.org/ bookworm-security main\n\
                    deb http://ftp.fr.debian.org/debian/ bookworm main\n";
        assert_eq!(
            mirror_in_list(list).as_deref(),
            Some("http://ftp.fr.debian.org/debian")
        );
    }
}
