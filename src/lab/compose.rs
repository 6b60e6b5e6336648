//! The Compose subset a definition's services are written in ([`Service`] lists the keys), what
//! a node becomes once templated ([`NodeSpec`]), and Compose's text rules: `${VAR}`
//! interpolation, node names, and the whole-word renaming that clones the template node.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

/// One Compose service, restricted to the keys Perseus understands.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The image to run (built from `build` when missing).
    pub image: String,
    /// How to build the image.
    #[serde(default)]
    pub build: Option<Build>,
    /// The command (arguments to the entrypoint).
    #[serde(default)]
    pub command: Option<StringOrList>,
    /// The entrypoint, when overridden.
    #[serde(default)]
    pub entrypoint: Option<StringOrList>,
    /// Environment variables (map or `KEY=value` list).
    #[serde(default)]
    pub environment: Option<Environment>,
    /// The hostname inside the container.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The user to run as.
    #[serde(default)]
    pub user: Option<String>,
    /// `named:/path[:ro]` or `./host/path:/path[:ro]` mounts.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// `service:<node>` for a sidecar sharing the node's network namespace.
    #[serde(default)]
    pub network_mode: Option<String>,
    /// Networks the service joins (the lab makes one network; this may name it).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub networks: Option<serde_yaml::Value>,
    /// Services to start first (informational for Perseus: it starts the main before sidecars).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub depends_on: Option<serde_yaml::Value>,
    /// Extra labels.
    #[serde(default)]
    pub labels: Option<Environment>,
    /// Grace period on stop (Compose syntax, e.g. `10s`).
    #[serde(default)]
    pub stop_grace_period: Option<String>,
    /// Restart policy; Perseus always runs nodes with `no` so that a killed node stays dead.
    #[serde(default)]
    pub restart: Option<String>,
    /// Resource limits (`nofile: 1048576` or `{soft, hard}`).
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub ulimits: Option<BTreeMap<String, serde_yaml::Value>>,
    /// tmpfs mounts (`/path`).
    #[serde(default)]
    pub tmpfs: Option<StringOrList>,
}

/// A Compose `build` section.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// The build context, relative to the definition file.
    pub context: String,
    /// The Dockerfile inside the context.
    #[serde(default = "default_dockerfile")]
    pub dockerfile: String,
    /// Build arguments (map or `KEY=value` list), interpolated like the rest of the file
    /// (`VERSION: ${PERSEUS_VERSION:-3.4.23}`).
    #[serde(default)]
    pub args: Option<Environment>,
}

/// How a container's image is built here, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    /// The build context: an absolute folder.
    pub context: PathBuf,
    /// The Dockerfile's name inside it.
    pub dockerfile: String,
    /// Build arguments, interpolated, beside the `BASE` the lab always passes.
    pub args: Vec<(String, String)>,
    /// Requirements fetched from PyPI into the context's `wheels/` folder before the build (a
    /// release from PyPI; see [`crate::lab::version`]); empty otherwise.
    pub pypi: Vec<String>,
}

fn default_dockerfile() -> String {
    "Dockerfile".into()
}

/// Compose's "string or list of strings" (a string is split on white space, as Compose does).
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(untagged)]
pub enum StringOrList {
    /// `command: etcd --name n1`
    String(String),
    /// `command: ["etcd", "--name", "n1"]`
    List(Vec<String>),
}

impl StringOrList {
    /// As a list of arguments.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            StringOrList::String(s) => s.split_whitespace().map(str::to_string).collect(),
            StringOrList::List(l) => l.clone(),
        }
    }
}

/// Compose's environment: a map, or a list of `KEY=value`.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(untagged)]
pub enum Environment {
    /// `KEY: value`
    Map(
        #[schemars(with = "BTreeMap<String, serde_json::Value>")]
        BTreeMap<String, serde_yaml::Value>,
    ),
    /// `- KEY=value`
    List(Vec<String>),
}

impl Environment {
    /// As ordered `(key, value)` pairs.
    pub fn pairs(&self) -> Vec<(String, String)> {
        match self {
            Environment::Map(m) => m
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_yaml::Value::String(s) => s.clone(),
                        serde_yaml::Value::Null => String::new(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (k.clone(), v)
                })
                .collect(),
            Environment::List(l) => l
                .iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv.clone(), String::new()),
                })
                .collect(),
        }
    }
}

/// A mount of a container, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// A named volume of the lab (`<volume>` as written in the file) at `target`.
    Volume {
        /// The volume name as written.
        name: String,
        /// Path inside the container.
        target: String,
        /// Mounted read-only.
        read_only: bool,
    },
    /// A host path (absolute, resolved against the definition's folder) at `target`.
    Bind {
        /// Absolute host path.
        source: PathBuf,
        /// Path inside the container.
        target: String,
        /// Mounted read-only.
        read_only: bool,
    },
}

/// A container of a node, ready to be created: templated and interpolated.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// The service name (`n1`, `n1-tikv`).
    pub service: String,
    /// Whether this is the node's main container (owner of the network namespace).
    pub main: bool,
    /// Image reference.
    pub image: String,
    /// Build instructions when the image is built locally.
    pub build: Option<BuildSpec>,
    /// The release this container runs, when its image names `${PERSEUS_VERSION}` (it becomes
    /// the container's `perseus.version` label).
    pub version: Option<String>,
    /// Entrypoint override.
    pub entrypoint: Option<Vec<String>>,
    /// Command.
    pub command: Option<Vec<String>>,
    /// Environment.
    pub env: Vec<(String, String)>,
    /// Hostname.
    pub hostname: Option<String>,
    /// User.
    pub user: Option<String>,
    /// Mounts.
    pub mounts: Vec<Mount>,
    /// Extra labels.
    pub labels: Vec<(String, String)>,
    /// Ulimits: name, soft, hard.
    pub ulimits: Vec<(String, i64, i64)>,
    /// tmpfs mount points.
    pub tmpfs: Vec<String>,
    /// The data directory mounted through the lazy file system, when the node runs under it
    /// ([`crate::lab::lazy`]; main containers only).
    pub lazy: Option<String>,
}

/// One node: its name and its containers, main first.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// `n1`..`nN`.
    pub name: String,
    /// Main container first, then sidecars in name order.
    pub containers: Vec<ContainerSpec>,
}

/// Whether `s` is a node name: `n` followed by a positive number.
pub fn is_node_name(s: &str) -> bool {
    s.strip_prefix('n').is_some_and(|d| {
        !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()) && !d.starts_with('0')
    })
}

/// Replace whole-word occurrences of `from` by `to` (a word boundary is any character that is not
/// alphanumeric or `_`), so that `n1` becomes `n4` in `--name n1` and `n1-data` but not in `n10`.
pub fn replace_word(s: &str, from: &str, to: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut prev: Option<char> = None;
    while let Some(i) = rest.find(from) {
        let before = rest[..i].chars().last().or(prev);
        let after = rest[i + from.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_none_or(|c| !is_word(c)) && after.is_none_or(|c| !is_word(c)) {
            out.push_str(to);
        } else {
            out.push_str(from);
        }
        prev = from.chars().last();
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

/// Compose-style interpolation of `s` with `vars`. Returns the offending `${...}` text as the error
/// when a variable without a default is not defined.
pub fn interpolate(
    s: &str,
    vars: &BTreeMap<String, String>,
) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let ch = s[i..].chars().next().unwrap_or('\0');
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let Some(close) = s[i..].find('}') else {
                    return Err(format!("unclosed '${{' in '{s}'"));
                };
                let inner = &s[i + 2..i + close];
                let (name, default) = if let Some((n, d)) = inner.split_once(":-") {
                    (n, Some(d))
                } else if let Some((n, d)) = inner.split_once('-') {
                    (n, Some(d))
                } else {
                    (inner, None)
                };
                match (vars.get(name), default) {
                    (Some(v), _) if !v.is_empty() => out.push_str(v),
                    (_, Some(d)) => out.push_str(d),
                    (Some(v), None) => out.push_str(v),
                    (None, None) => {
                        return Err(format!(
                            "${{{inner}}}: variable {name} is not defined (Perseus defines PERSEUS_NODES, PERSEUS_BIN_DIR and the x-perseus.each-node names); give it a default with ${{{name}:-...}}"
                        ))
                    }
                }
                i += close + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                    end += 1;
                }
                let name = &s[start..end];
                match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        return Err(format!(
                            "${name}: variable {name} is not defined; write $$ for a literal $"
                        ))
                    }
                }
                i = end;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_follows_compose() {
        let vars = BTreeMap::from([("A".to_string(), "x".to_string())]);
        assert_eq!(
            interpolate("$$A ${A} $A ${B:-d} ${B-e}", &vars).unwrap(),
            "$A x x d e"
        );
        assert!(interpolate("${B}", &vars)
            .unwrap_err()
            .contains("B is not defined"));
        assert_eq!(
            interpolate("sh -c 'echo $$(hostname)'", &vars).unwrap(),
            "sh -c 'echo $(hostname)'"
        );
    }

    #[test]
    fn replace_word_respects_boundaries() {
        assert_eq!(
            replace_word("--name n1 n10 n1-data xn1 n1", "n1", "n4"),
            "--name n4 n10 n4-data xn1 n4"
        );
        assert_eq!(
            replace_word("http://n1:2380", "n1", "n12"),
            "http://n12:2380"
        );
    }

    #[test]
    fn node_names() {
        assert!(is_node_name("n1") && is_node_name("n12"));
        assert!(
            !is_node_name("n0")
                && !is_node_name("n")
                && !is_node_name("x1")
                && !is_node_name("n01")
        );
    }
}
