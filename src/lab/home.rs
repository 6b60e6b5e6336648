//! Where the lab's files live ([`Home`]: `compose/`, `docker/`, `etc/`, `scenarios/`), the systems
//! its definitions name, and the catalog of them ([`catalog`]): what `perseus systems` lists and
//! what CI and the tests take their system lists from.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bollard::Docker;

use super::compose::NodeSpec;
use super::definition::Definition;
use crate::docker;
use crate::error::LabError;
use crate::error::{Error, Result};
use crate::images::{self, HELPER_IMAGE};

/// Where the lab's files live: `compose/`, `docker/`, `etc/`, `scenarios/`.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// Find the Perseus files: `$PERSEUS_HOME`, else the current folder or one of its parents, else
    /// a parent of the executable (`target/release/perseus` in a checkout), else the checkout the
    /// binary was built from.
    ///
    /// Errors: [`Error::MissingFile`] when none of them has a `compose/` folder.
    pub fn locate() -> Result<Home> {
        let has = |p: &Path| p.join("compose").is_dir();
        if let Some(h) = std::env::var_os("PERSEUS_HOME") {
            let p = PathBuf::from(h);
            return if has(&p) {
                Ok(Home { root: p })
            } else {
                Err(Error::MissingFile {
                    path: p.join("compose"),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "PERSEUS_HOME has no compose/ folder",
                    ),
                })
            };
        }
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            candidates.extend(cwd.ancestors().map(Path::to_path_buf));
        }
        if let Ok(exe) = std::env::current_exe() {
            candidates.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
        }
        candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        candidates
            .into_iter()
            .find(|p| has(p))
            .map(|root| Home { root })
            .ok_or_else(|| Error::MissingFile {
                path: PathBuf::from("compose"),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no compose/ folder found",
                ),
            })
    }

    /// A home at an explicit folder (tests).
    pub fn at(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The systems this home defines: the stems of `compose/*.yaml`, sorted.
    pub fn systems(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.root.join("compose"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let p = e.path();
                        (p.extension().is_some_and(|x| x == "yaml"))
                            .then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                            .flatten()
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Check a lab's system name against the definitions.
    ///
    /// Errors: [`Error::UnknownSystem`] naming the known ones.
    pub fn check_system(&self, system: &str) -> Result<()> {
        let known = self.systems();
        if known.iter().any(|s| s == system) {
            Ok(())
        } else {
            Err(Error::UnknownSystem {
                name: system.to_string(),
                known: known.join(", "),
            })
        }
    }

    /// Load `compose/<system>.yaml`, or `file` when given.
    pub fn definition(&self, system: &str, file: Option<&Path>) -> Result<Definition> {
        let def = match file {
            Some(f) => Definition::load(f)?,
            None => {
                self.check_system(system)?;
                Definition::load(&self.root.join("compose").join(format!("{system}.yaml")))?
            }
        };
        if def.perseus.system != system {
            return Err(LabError::OtherSystem {
                file: def.file.clone(),
                defined: def.perseus.system.clone(),
                named: system.to_string(),
            }
            .into());
        }
        Ok(def)
    }

    /// The images the lab builds itself for this definition, plus the network helper.
    pub fn builds(&self, nodes: &[NodeSpec]) -> Vec<images::ImageBuild> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for c in nodes.iter().flat_map(|n| &n.containers) {
            if let Some(b) = &c.build {
                if seen.insert(c.image.clone()) {
                    out.push(images::ImageBuild {
                        tag: c.image.clone(),
                        context: b.context.clone(),
                        dockerfile: b.dockerfile.clone(),
                        args: b.args.clone(),
                        pypi: b.pypi.clone(),
                    });
                }
            }
        }
        out.push(self.helper_build());
        out
    }

    /// The network helper image (iptables, iproute2) used by isolate, partition and heal.
    pub fn helper_build(&self) -> images::ImageBuild {
        images::ImageBuild {
            tag: HELPER_IMAGE.to_string(),
            context: self.root.join("docker").join("nettools"),
            dockerfile: "Dockerfile".into(),
            args: Vec::new(),
            pypi: Vec::new(),
        }
    }
}

/// Where an image of a system comes from, and whether it is on this machine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageSource {
    /// The image reference (`perseus/etcd:3.4.23`, `cockroachdb/cockroach:v25.2.4`).
    pub image: String,
    /// Built here from a Dockerfile under `docker/` (else an official image to pull).
    pub built_here: bool,
    /// Present on the Docker Engine now.
    pub present: bool,
}

/// One system the lab knows, as `perseus systems` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Catalogued {
    /// The lab's name (`etcd`): the definition's `x-perseus.system`.
    pub system: String,
    /// Its name for people (`CockroachDB`).
    pub title: String,
    /// The implementation under `src/systems/` (`x-perseus.kind`).
    pub kind: String,
    /// The fewest nodes it runs with.
    pub min_nodes: usize,
    /// `leader`, `pd-leader`, ...: empty for a system without a leader.
    pub leader_targets: Vec<String>,
    /// Its images at the default release (the network helper's not included).
    pub images: Vec<ImageSource>,
    /// The releases its definition lists (`x-perseus.versions`), in its order; empty when it
    /// runs the one release its images hold.
    pub releases: Vec<CataloguedRelease>,
}

/// One release of a system, as `perseus systems` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CataloguedRelease {
    /// The version (`3.5.1`): `SYSTEM@VERSION` runs it.
    pub version: String,
    /// Where it comes from.
    pub source: super::version::Source,
    /// Whether `perseus lab up SYSTEM` runs it.
    pub default: bool,
    /// Whether every image of it is on the Engine now (else `lab up` builds or pulls them).
    pub present: bool,
    /// The definition's note on it.
    pub note: Option<String>,
}

impl Catalogued {
    /// Whether every image is built here from Debian packages: the system runs where no
    /// registry is reachable.
    pub fn local(&self) -> bool {
        self.images.iter().all(|i| i.built_here)
    }
}

/// Every system of `home`'s definitions, in name order, with where its images come from and
/// whether they are on the Engine now: the registry the CI script and the tests list systems from.
///
/// Errors: [`Error::Definition`] for a definition that does not parse; [`Error::Docker`] when the
/// Engine fails an image inspect.
pub async fn catalog(docker: &Docker, home: &Home) -> Result<Vec<Catalogued>> {
    let mut out = Vec::new();
    for system in home.systems() {
        let def = home.definition(&system, None)?;
        let specs = def.nodes(def.perseus.min_nodes.max(1))?;
        let mut images: Vec<ImageSource> = Vec::new();
        for c in specs.iter().flat_map(|n| &n.containers) {
            if images.iter().any(|i| i.image == c.image) {
                continue;
            }
            images.push(ImageSource {
                image: c.image.clone(),
                built_here: c.build.is_some(),
                present: docker::image_exists(docker, &c.image).await?,
            });
        }
        let mut releases = Vec::new();
        if let Some(versions) = &def.perseus.versions {
            for r in versions.all() {
                let at = def.clone().at(Some(&r.version))?;
                let mut present = true;
                for c in at
                    .nodes(at.perseus.min_nodes.max(1))?
                    .iter()
                    .flat_map(|n| &n.containers)
                    .filter(|c| c.version.is_some())
                {
                    present = present && docker::image_exists(docker, &c.image).await?;
                }
                releases.push(CataloguedRelease {
                    version: r.version,
                    source: r.source,
                    default: r.default,
                    present,
                    note: r.note,
                });
            }
        }
        out.push(Catalogued {
            releases,
            title: def.perseus.title.clone().unwrap_or_else(|| system.clone()),
            kind: def.system.name().to_string(),
            min_nodes: def.perseus.min_nodes,
            leader_targets: def.system.leader_targets(),
            images,
            system,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_lists_systems_and_rejects_unknown_ones() {
        let home = Home::at(env!("CARGO_MANIFEST_DIR"));
        assert!(home.systems().contains(&"etcd".to_string()));
        let err = home.check_system("mongo").unwrap_err();
        assert!(err.to_string().contains("unknown system 'mongo'"), "{err}");
        assert!(err.to_string().contains("etcd"), "{err}");
        assert_eq!(err.exit_code(), 2);
        let def = home.definition("etcd", None).unwrap();
        let nodes = def.nodes(5).unwrap();
        assert_eq!(nodes[4].containers[0].command.as_ref().unwrap()[1], "n5");
    }
}
