//! The base image the lab's images are built from: Debian bookworm, pulled when a registry is
//! reachable, else made here from Debian packages. This module's one job is that image.
//!
//! The base ([`ensure_base`]), in order of preference:
//! 1. [`UPSTREAM_BASE`] when it is present locally;
//! 2. [`LOCAL_BASE`] when it is present locally (it was made here before: reuse it rather than spend up
//!    to 60 s on a pull that is known to fail on this machine, and keep building from the same base);
//! 3. [`UPSTREAM_BASE`] pulled from the registry, the pull bounded to 60 s;
//! 4. [`LOCAL_BASE`] made here: `debootstrap --variant=minbase bookworm` from [`debian_mirror`] (about
//!    40 s and 200 MB of downloads), slimmed like the upstream `-slim` images (no docs, man pages,
//!    locales, package caches or package lists; the same dpkg excludes and apt `docker-clean` config),
//!    tarred with the `tar` crate and imported with the Engine API's image create from a source
//!    (`POST /images/create?fromSrc=-`, what `docker import` does; `docker load` is a different
//!    thing), with `CMD ["bash"]`, the default `PATH` and the label `perseus.base=bookworm`.
//!
//! It is never rebuilt by perseus: remove [`LOCAL_BASE`] by hand to make it again.
//!
//! Timeouts: the pull 60 s, debootstrap 15 min, the import 15 min.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::query_parameters::CreateImageOptionsBuilder;
use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;

use crate::docker::image_exists;
use crate::error::{Error, Result};

/// How many lines of build (or debootstrap) output an error message carries.
pub(super) const TAIL_LINES: usize = 20;
/// Tag of the base image made locally by debootstrap when `debian:bookworm-slim` is absent.
pub const LOCAL_BASE: &str = "perseus/bookworm:minbase";
/// The upstream base image the Dockerfiles name by default.
pub const UPSTREAM_BASE: &str = "debian:bookworm-slim";

/// The mirror used when neither `$PERSEUS_DEBIAN_MIRROR` nor the apt sources name one.
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// The environment variable that overrides the mirror.
const MIRROR_ENV: &str = "PERSEUS_DEBIAN_MIRROR";
/// How long a pull of [`UPSTREAM_BASE`] may take.
const PULL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long debootstrap may take.
const DEBOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long the import of the base tarball may take.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The base image to build FROM: `debian:bookworm-slim` when it is present locally or can be pulled
/// (pull bounded to 60 s), else [`LOCAL_BASE`], creating it with debootstrap when missing. A
/// [`LOCAL_BASE`] that exists is used without trying the pull (see the module docs for the order).
///
/// Errors: [`Error::ImageMissing`] with the fix when the base has to be made here but debootstrap is
/// not installed or perseus does not run as root; [`Error::ImageBuild`] when debootstrap or the import
/// fails or outlives 15 min; [`Error::Docker`] when the engine refuses a call.
pub async fn ensure_base(docker: &Docker, progress: &mut dyn FnMut(&str)) -> Result<String> {
    if image_exists(docker, UPSTREAM_BASE).await? {
        progress(&format!("base image {UPSTREAM_BASE} exists, reused"));
        return Ok(UPSTREAM_BASE.to_string());
    }
    if image_exists(docker, LOCAL_BASE).await? {
        progress(&format!("base image {LOCAL_BASE} exists, reused"));
        return Ok(LOCAL_BASE.to_string());
    }
    progress(&format!(
        "base image {UPSTREAM_BASE}: pulling (at most {} s)",
        PULL_TIMEOUT.as_secs()
    ));
    match pull(docker, UPSTREAM_BASE).await {
        Ok(()) => {
            progress(&format!("base image {UPSTREAM_BASE}: pulled"));
            return Ok(UPSTREAM_BASE.to_string());
        }
        Err(why) => progress(&format!(
            "base image {UPSTREAM_BASE}: cannot pull ({why}); making {LOCAL_BASE} here"
        )),
    }
    let mirror = tokio::task::spawn_blocking(debian_mirror)
        .await
        .map_err(Error::blocking("reading the apt sources"))?;
    progress(&format!(
        "base image {LOCAL_BASE}: debootstrap bookworm from {mirror} (about 40 s)"
    ));
    let started = Instant::now();
    make_local_base(docker, &mirror).await?;
    progress(&format!(
        "base image {LOCAL_BASE}: made in {} s",
        started.elapsed().as_secs()
    ));
    Ok(LOCAL_BASE.to_string())
}

/// The Debian mirror for debootstrap: `$PERSEUS_DEBIAN_MIRROR`, else the first `bookworm` deb URI in
/// `/etc/apt/sources.list` or `/etc/apt/sources.list.d/*` (the `*.list` and `*.sources` files apt
/// reads, in name order; both the one-line and the deb822 `URIs:` formats; security and updates suites
/// are skipped, see [`bookworm_mirror_in`]), else `http://deb.debian.org/debian`. Never fails: an
/// unreadable file is skipped.
pub fn debian_mirror() -> String {
    if let Ok(m) = std::env::var(MIRROR_ENV) {
        let m = m.trim().trim_end_matches('/');
        if !m.is_empty() {
            return m.to_string();
        }
    }
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("list" | "sources")
                )
            })
            .collect();
        more.sort();
        files.extend(more);
    }
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .find_map(|text| bookworm_mirror_in(&text))
        .unwrap_or_else(|| DEFAULT_MIRROR.to_string())
}

/// The first mirror URI that serves the `bookworm` suite in apt sources text, in either format:
/// one-line (`deb [options] URI bookworm main`, see sources.list(5)) or deb822 stanzas (`Types: deb`,
/// `URIs: ...`, `Suites: bookworm bookworm-updates`, optional `Enabled: no`). Only `deb` entries (not
/// `deb-src`) whose suites include exactly `bookworm` count, so `bookworm-security`,
/// `bookworm-updates` and `bookworm-backports` entries are skipped; only `http`, `https` and `file` URIs
/// count. The URI is returned without a trailing slash; `None` when there is no such entry.
pub fn bookworm_mirror_in(sources: &str) -> Option<String> {
    let mut stanza: Vec<(String, String)> = Vec::new();
    for raw in sources.lines().chain(std::iter::once("")) {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        if trimmed.is_empty() {
            if let Some(uri) = deb822_mirror(&stanza) {
                return Some(uri);
            }
            stanza.clear();
            continue;
        }
        if trimmed.starts_with("deb ") || trimmed.starts_with("deb\t") {
            if let Some(uri) = one_line_mirror(trimmed) {
                return Some(uri);
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            // A continuation line of the previous deb822 field.
            if let Some((_, value)) = stanza.last_mut() {
                value.push(' ');
                value.push_str(trimmed);
            }
            continue;
        }
        if let Some((key, value)) = trimmed.split_once(':') {
            stanza.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    None
}

/// The mirror of one one-line entry (`deb [opts] URI suite components...`), if it serves bookworm.
fn one_line_mirror(line: &str) -> Option<String> {
    let rest = line.strip_prefix("deb")?.trim_start();
    // Options in brackets may contain spaces: skip to the closing bracket.
    let rest = match rest.strip_prefix('[') {
        Some(r) => r.split_once(']')?.1.trim_start(),
        None => rest,
    };
    let mut words = rest.split_whitespace();
    let uri = words.next()?;
    let suite = words.next()?;
    (suite == "bookworm" && usable_uri(uri)).then(|| uri.trim_end_matches('/').to_string())
}

/// The mirror of one deb822 stanza (fields lower-cased), if it serves bookworm.
fn deb822_mirror(stanza: &[(String, String)]) -> Option<String> {
    let field = |name: &str| {
        stanza
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if field("enabled").is_some_and(|v| v.eq_ignore_ascii_case("no")) {
        return None;
    }
    if !field("types")?.split_whitespace().any(|t| t == "deb") {
        return None;
    }
    if !field("suites")?.split_whitespace().any(|s| s == "bookworm") {
        return None;
    }
    field("uris")?
        .split_whitespace()
        .find(|u| usable_uri(u))
        .map(|u| u.trim_end_matches('/').to_string())
}

/// Whether debootstrap can fetch from this URI.
fn usable_uri(uri: &str) -> bool {
    uri.starts_with("http://") || uri.starts_with("https://") || uri.starts_with("file:/")
}

/// Pull `image` (`repo:tag`), bounded by [`PULL_TIMEOUT`]; the error is a one-line reason.
async fn pull(docker: &Docker, image: &str) -> std::result::Result<(), String> {
    let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let opts = CreateImageOptionsBuilder::default()
        .from_image(repo)
        .tag(tag)
        .build();
    let docker = docker.clone().with_timeout(PULL_TIMEOUT);
    let run = async {
        let mut stream = docker.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| one_line(&e.to_string()))?;
            if let Some(detail) = info.error_detail {
                return Err(one_line(&detail.message.unwrap_or_default()));
            }
        }
        Ok(())
    };
    match tokio::time::timeout(PULL_TIMEOUT, run).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", PULL_TIMEOUT.as_secs())),
    }
}

/// The first line of a message, at most 200 characters.
fn one_line(s: &str) -> String {
    let first = s.lines().next().unwrap_or("").trim();
    match first.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &first[..i]),
        None => first.to_string(),
    }
}

/// The last [`TAIL_LINES`] non-blank lines of output that arrives in chunks (a line may be split
/// across chunks), without terminal colour escapes.
#[derive(Debug, Default)]
pub(super) struct Tail {
    lines: VecDeque<String>,
    partial: String,
}

impl Tail {
    /// Add a chunk of output.
    pub(super) fn push_str(&mut self, chunk: &str) {
        self.partial.push_str(&strip_ansi(chunk));
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            self.push_line(&line);
        }
    }

    /// Add one whole line (blank lines are dropped).
    fn push_line(&mut self, line: &str) {
        let line = line.trim_end();
        if line.trim().is_empty() {
            return;
        }
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line.to_string());
    }

    /// The kept lines, newline-separated, with any unfinished last line.
    pub(super) fn text(mut self) -> String {
        let partial = std::mem::take(&mut self.partial);
        self.push_line(&partial);
        Vec::from(self.lines).join("\n")
    }
}

/// `s` without ANSI escape sequences (`ESC [ ... letter`), which the builder puts around stderr.
pub(super) fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Make [`LOCAL_BASE`] with debootstrap from `mirror` and import it.
async fn make_local_base(docker: &Docker, mirror: &str) -> Result<()> {
    let debootstrap = find_debootstrap().ok_or_else(|| Error::ImageMissing {
        image: LOCAL_BASE.to_string(),
        fix: format!(
            "it is made with debootstrap, which is not installed: run `apt-get install debootstrap` \
             and run perseus as root, or make {UPSTREAM_BASE} available (`docker pull {UPSTREAM_BASE}`, \
             or `docker load -i` a saved copy)"
        ),
    })?;
    if !is_root() {
        return Err(Error::ImageMissing {
            image: LOCAL_BASE.to_string(),
            fix: format!(
                "it is made with debootstrap, which needs root: run perseus as root once (`sudo \
                 perseus ...`), or make {UPSTREAM_BASE} available (`docker pull {UPSTREAM_BASE}`, \
                 or `docker load -i` a saved copy)"
            ),
        });
    }
    let work =
        tokio::task::spawn_blocking(|| tempfile::Builder::new().prefix("perseus-base-").tempdir())
            .await
            .map_err(Error::blocking("making a temporary folder"))?
            .map_err(Error::io("making a temporary folder for the base rootfs"))?;
    let rootfs = work.path().join("rootfs");
    let tarball = work.path().join("rootfs.tar");

    let result = async {
        debootstrap_rootfs(&debootstrap, &rootfs, mirror).await?;
        let (r, t, m) = (rootfs.clone(), tarball.clone(), mirror.to_string());
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            slim_rootfs(&r, &m)?;
            tar_rootfs(&r, &t)
        })
        .await
        .map_err(Error::blocking("packing the base rootfs"))?
        .map_err(Error::io(format!(
            "packing the base rootfs {} into {}",
            rootfs.display(),
            tarball.display()
        )))?;
        import(docker, &tarball).await
    }
    .await;

    // debootstrap mounts /proc and /sys (and in containers may bind /dev) inside the rootfs while it
    // runs; a killed run can leave them mounted. Never delete through a mount: unmount first, and keep
    // the folder if something is still mounted there.
    let cleanup = cleanup_workdir(work).await;
    result?;
    cleanup
}

/// Where debootstrap is, if installed (`$PATH`, then `/usr/sbin` and `/sbin`, which a non-root `$PATH`
/// often lacks).
fn find_debootstrap() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join("debootstrap"))
        .find(|p| p.is_file())
}

/// Whether this process runs with effective uid 0 (the owner of `/proc/self` is the effective uid).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Run `debootstrap --variant=minbase bookworm <rootfs> <mirror>`, bounded by [`DEBOOTSTRAP_TIMEOUT`].
async fn debootstrap_rootfs(debootstrap: &Path, rootfs: &Path, mirror: &str) -> Result<()> {
    let mut cmd = tokio::process::Command::new(debootstrap);
    cmd.arg("--variant=minbase")
        .arg("bookworm")
        .arg(rootfs)
        .arg(mirror)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(Error::io(format!("starting {}", debootstrap.display())))?;
    let pid = child.id();
    match tokio::time::timeout(DEBOOTSTRAP_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let mut tail = Tail::default();
            tail.push_str(&String::from_utf8_lossy(&out.stdout));
            tail.push_str("\n");
            tail.push_str(&String::from_utf8_lossy(&out.stderr));
            Err(Error::ImageBuild {
                image: LOCAL_BASE.to_string(),
                message: format!(
                    "debootstrap bookworm from {mirror} failed ({}); set {MIRROR_ENV} to a reachable \
                     Debian mirror, or make {UPSTREAM_BASE} available; last output:\n{}",
                    out.status,
                    tail.text()
                ),
            })
        }
        Ok(Err(e)) => Err(Error::io("waiting for debootstrap")(e)),
        Err(_) => {
            // The child itself was killed on drop; its process group (dpkg, chroot) goes too.
            if let Some(pid) = pid {
                let _ = tokio::process::Command::new("kill")
                    .arg("-KILL")
                    .arg(format!("-{pid}"))
                    .status()
                    .await;
            }
            Err(Error::ImageBuild {
                image: LOCAL_BASE.to_string(),
                message: format!(
                    "debootstrap bookworm from {mirror} did not finish within {} s; set {MIRROR_ENV} \
                     to a faster Debian mirror, or make {UPSTREAM_BASE} available",
                    DEBOOTSTRAP_TIMEOUT.as_secs()
                ),
            })
        }
    }
}

/// Make the rootfs like the upstream `-slim` images: apt sources on the mirror, no package caches or
/// lists, no docs, man pages or locales (now and for later installs).
fn slim_rootfs(rootfs: &Path, mirror: &str) -> io::Result<()> {
    let sources = rootfs.join("etc/apt/sources.list");
    let has_mirror = std::fs::read_to_string(&sources)
        .map(|t| bookworm_mirror_in(&t).is_some())
        .unwrap_or(false);
    if !has_mirror {
        std::fs::write(&sources, format!("deb {mirror} bookworm main\n"))?;
    }
    std::fs::write(
        rootfs.join("etc/apt/apt.conf.d/docker-clean"),
        "DPkg::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };\n\
         APT::Update::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };\n\
         Dir::Cache::pkgcache \"\";\n\
         Dir::Cache::srcpkgcache \"\";\n",
    )?;
    std::fs::write(
        rootfs.join("etc/dpkg/dpkg.cfg.d/docker"),
        "# Like the upstream -slim images: no docs (but copyrights), man pages, info or locales.\n\
         path-exclude /usr/share/doc/*\n\
         path-include /usr/share/doc/*/copyright\n\
         path-exclude /usr/share/groff/*\n\
         path-exclude /usr/share/info/*\n\
         path-exclude /usr/share/linda/*\n\
         path-exclude /usr/share/lintian/overrides/*\n\
         path-exclude /usr/share/locale/*\n\
         path-exclude /usr/share/man/*\n",
    )?;
    // Files that the excludes above would not have installed, and package caches and lists.
    for dir in [
        "usr/share/groff",
        "usr/share/info",
        "usr/share/linda",
        "usr/share/lintian/overrides",
        "usr/share/locale",
        "usr/share/man",
        "var/cache/apt/archives",
        "var/lib/apt/lists",
    ] {
        empty_dir(&rootfs.join(dir), &|name| {
            matches!(name, "partial" | "lock" | "locale.alias")
        })?;
    }
    let docs = rootfs.join("usr/share/doc");
    if let Ok(entries) = std::fs::read_dir(&docs) {
        for pkg in entries {
            let pkg = pkg?.path();
            if std::fs::symlink_metadata(&pkg)?.is_dir() {
                empty_dir(&pkg, &|name| name == "copyright")?;
            }
        }
    }
    for bin in [
        "var/cache/apt/pkgcache.bin",
        "var/cache/apt/srcpkgcache.bin",
    ] {
        remove_if_present(&rootfs.join(bin))?;
    }
    Ok(())
}

/// Remove everything in `dir` (not `dir` itself) except top-level entries whose name `keep` accepts.
/// A missing `dir` is fine. Symlinks are removed, never followed.
fn empty_dir(dir: &Path, keep: &dyn Fn(&str) -> bool) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if keep(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Remove a file if it exists.
fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Top-level folders whose contents do not belong in an image: the engine provides them at run time
/// (debootstrap leaves device nodes in `/dev`).
const RUNTIME_DIRS: [&str; 3] = ["dev", "proc", "sys"];

/// Tar the rootfs into `out` as an image import expects it: paths relative to the root, ownership,
/// permissions and times kept, symlinks as symlinks, hard links as hard links. The contents of
/// [`RUNTIME_DIRS`] and of anything mounted inside the rootfs are left out (their folders stay),
/// sockets are skipped.
fn tar_rootfs(rootfs: &Path, out: &Path) -> io::Result<()> {
    let file = std::fs::File::create(out)?;
    let mut builder = tar::Builder::new(io::BufWriter::with_capacity(1 << 20, file));
    builder.mode(tar::HeaderMode::Complete);
    builder.follow_symlinks(false);
    let root_dev = std::fs::symlink_metadata(rootfs)?.dev();
    let mut hard_links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel_dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(rootfs.join(&rel_dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        entries.sort();
        // Pushed in reverse so the walk is depth-first in name order.
        let mut subdirs = Vec::new();
        for name in entries {
            let rel = rel_dir.join(&name);
            let abs = rootfs.join(&rel);
            let meta = std::fs::symlink_metadata(&abs)?;
            let kind = meta.file_type();
            if kind.is_dir() {
                builder.append_path_with_name(&abs, &rel)?;
                let runtime =
                    rel_dir.as_os_str().is_empty() && RUNTIME_DIRS.iter().any(|d| name == *d);
                if !runtime && meta.dev() == root_dev {
                    subdirs.push(rel);
                }
            } else if kind.is_file() && meta.nlink() > 1 {
                match hard_links.get(&(meta.dev(), meta.ino())) {
                    Some(first) => {
                        let mut header = tar::Header::new_gnu();
                        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
                        header.set_entry_type(tar::EntryType::Link);
                        header.set_size(0);
                        builder.append_link(&mut header, &rel, first)?;
                    }
                    None => {
                        hard_links.insert((meta.dev(), meta.ino()), rel.clone());
                        builder.append_path_with_name(&abs, &rel)?;
                    }
                }
            } else if std::os::unix::fs::FileTypeExt::is_socket(&kind) {
                continue;
            } else {
                builder.append_path_with_name(&abs, &rel)?;
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    builder.into_inner()?.into_inner()?.sync_all()?;
    Ok(())
}

/// Import the rootfs tarball as [`LOCAL_BASE`], streaming it from the file, bounded by
/// [`IMPORT_TIMEOUT`].
async fn import(docker: &Docker, tarball: &Path) -> Result<()> {
    let (repo, tag) = LOCAL_BASE.split_once(':').unwrap_or((LOCAL_BASE, "latest"));
    let opts = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .message("perseus: debootstrap --variant=minbase bookworm")
        .changes(vec![
            "CMD [\"bash\"]".to_string(),
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            "LABEL perseus.base=bookworm".to_string(),
        ])
        .build();
    let file = tokio::fs::File::open(tarball)
        .await
        .map_err(Error::io(format!("opening {}", tarball.display())))?;
    let body = futures_util::stream::try_unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 20];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), file)))
    });
    let docker = docker.clone().with_timeout(IMPORT_TIMEOUT);
    let run = async {
        let mut stream =
            docker.create_image(Some(opts), Some(bollard::body_try_stream(body)), None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| e.to_string())?;
            if let Some(detail) = info.error_detail {
                return Err(detail.message.unwrap_or_default());
            }
        }
        Ok(())
    };
    let outcome = match tokio::time::timeout(IMPORT_TIMEOUT, run).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "the import did not finish within {} s",
            IMPORT_TIMEOUT.as_secs()
        )),
    };
    match outcome {
        Ok(()) if image_exists(&docker, LOCAL_BASE).await? => Ok(()),
        Ok(()) => Err(Error::ImageBuild {
            image: LOCAL_BASE.to_string(),
            message: "the engine accepted the rootfs import but no image exists".to_string(),
        }),
        Err(message) => Err(Error::ImageBuild {
            image: LOCAL_BASE.to_string(),
            message: format!("importing the debootstrap rootfs failed: {message}"),
        }),
    }
}

/// Remove the temporary folder, after unmounting anything debootstrap left mounted in it. When a mount
/// cannot be undone the folder is kept (and named in the error), never deleted through the mount.
async fn cleanup_workdir(work: tempfile::TempDir) -> Result<()> {
    let dir = work.path().to_path_buf();
    let mounted = mounts_under_now(&dir).await;
    if !mounted.is_empty() {
        // Deepest first.
        for m in mounted.iter().rev() {
            let _ = tokio::process::Command::new("umount")
                .arg("--lazy")
                .arg(m)
                .status()
                .await;
        }
        let still = mounts_under_now(&dir).await;
        if !still.is_empty() {
            let kept = work.keep();
            return Err(Error::Io {
                context: format!("removing the debootstrap folder {}", kept.display()),
                source: io::Error::other(format!(
                    "{} is still mounted inside it; unmount it and remove the folder by hand",
                    still[0].display()
                )),
            });
        }
    }
    tokio::task::spawn_blocking(move || work.close())
        .await
        .map_err(Error::blocking("removing the debootstrap folder"))?
        .map_err(Error::io(format!(
            "removing the debootstrap folder {}",
            dir.display()
        )))
}

/// The mount points at or under `dir`, from `/proc/self/mountinfo`, sorted (parents first).
async fn mounts_under_now(dir: &Path) -> Vec<PathBuf> {
    match tokio::fs::read_to_string("/proc/self/mountinfo").await {
        Ok(text) => mounts_under(&text, dir),
        Err(_) => Vec::new(),
    }
}

/// The mount points at or under `dir` in mountinfo text (proc(5): the fifth field, with `\040`-style
/// octal escapes), sorted so parents come first.
fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_octal(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Undo the kernel's `\ooo` escapes in a mountinfo path.
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_sources_give_the_bookworm_mirror() {
        let text = "\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb http://security.debian.org/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://mirror.example/debian/ bookworm main contrib
deb http://later.example/debian bookworm main
";
        assert_eq!(
            bookworm_mirror_in(text).as_deref(),
            Some("http://mirror.example/debian")
        );
    }

    #[test]
    fn updates_security_and_other_suites_are_skipped() {
        let text = "\
deb http://deb.example/debian bookworm-updates main
deb http://security.example/debian-security bookworm-security main
deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main
deb http://deb.example/debian bullseye main
";
        assert_eq!(bookworm_mirror_in(text), None);
    }

    #[test]
    fn deb822_sources_give_the_bookworm_mirror() {
        // The stock Debian 12 /etc/apt/sources.list.d/debian.sources, with the security stanza first.
        let text = "\
Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm

Types: deb
URIs: http://old.example/debian
Suites: bookworm
Enabled: no

types: deb deb-src
uris: http://ftp.example/debian/
  http://second.example/debian
suites: bookworm bookworm-updates
components: main
";
        assert_eq!(
            bookworm_mirror_in(text).as_deref(),
            Some("http://ftp.example/debian")
        );
    }

    #[test]
    fn deb822_stanza_at_end_of_text_without_blank_line() {
        let text = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main";
        assert_eq!(
            bookworm_mirror_in(text).as_deref(),
            Some("http://deb.debian.org/debian")
        );
    }

    #[test]
    fn nothing_usable_gives_none() {
        assert_eq!(bookworm_mirror_in(""), None);
        assert_eq!(
            bookworm_mirror_in("deb cdrom:[Debian GNU/Linux 12]/ bookworm main\n"),
            None
        );
    }

    #[test]
    fn mirror_env_overrides_the_sources() {
        // The only test in this crate that touches the variable.
        std::env::set_var(MIRROR_ENV, "http://env.example/debian/ ");
        let m = debian_mirror();
        std::env::remove_var(MIRROR_ENV);
        assert_eq!(m, "http://env.example/debian");
    }

    #[test]
    fn tarred_rootfs_keeps_links_and_skips_runtime_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        std::fs::create_dir_all(root.join("dev/pts")).unwrap();
        std::fs::write(root.join("dev/null-ish"), "").unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/perl"), "#!perl").unwrap();
        std::fs::hard_link(root.join("usr/bin/perl"), root.join("usr/bin/perl5.36")).unwrap();
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        let out = dir.path().join("rootfs.tar");
        tar_rootfs(&root, &out).unwrap();
        let mut archive = tar::Archive::new(std::fs::File::open(&out).unwrap());
        let mut seen = HashMap::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let path = entry
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string();
            let link = entry
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
            seen.insert(path, (entry.header().entry_type(), link));
        }
        assert_eq!(
            seen["bin"],
            (tar::EntryType::Symlink, Some("usr/bin".into()))
        );
        assert_eq!(seen["usr/bin/perl"].0, tar::EntryType::Regular);
        assert_eq!(
            seen["usr/bin/perl5.36"],
            (tar::EntryType::Link, Some("usr/bin/perl".into()))
        );
        assert_eq!(seen["dev"].0, tar::EntryType::Directory);
        assert!(!seen.contains_key("dev/pts") && !seen.contains_key("dev/null-ish"));
    }

    #[test]
    fn build_output_tail_joins_split_lines_and_drops_colours() {
        let mut tail = Tail::default();
        tail.push_str("Step 3/4 : RUN x\n\u{1b}[91mE\u{1b}[0m");
        tail.push_str("\u{1b}[91m: Unable to locate package x\n\u{1b}[0m\u{1b}[91m\n\u{1b}[0m");
        assert_eq!(
            tail.text(),
            "Step 3/4 : RUN x\nE: Unable to locate package x"
        );

        let mut tail = Tail::default();
        for i in 0..TAIL_LINES {
            tail.push_str(&format!("line {i}\n"));
        }
        tail.push_str("unfinished");
        let text = tail.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines[0], "line 1");
        assert_eq!(lines[TAIL_LINES - 1], "unfinished");
    }

    #[test]
    fn mountinfo_paths_under_a_folder() {
        let info = "\
22 1 253:0 / / rw,relatime - ext4 /dev/vda rw
98 22 0:5 / /tmp/perseus-base-x/rootfs/proc rw - proc proc rw
99 22 0:6 / /tmp/perseus-base-x/rootfs/sys rw - sysfs sysfs rw
100 22 0:7 / /tmp/perseus-base-x2/rootfs/proc rw - proc proc rw
101 22 0:8 / /tmp/perseus-base-x/with\\040space rw - tmpfs tmpfs rw
";
        let dir = Path::new("/tmp/perseus-base-x");
        assert_eq!(
            mounts_under(info, dir),
            vec![
                PathBuf::from("/tmp/perseus-base-x/rootfs/proc"),
                PathBuf::from("/tmp/perseus-base-x/rootfs/sys"),
                PathBuf::from("/tmp/perseus-base-x/with space"),
            ]
        );
    }
}
