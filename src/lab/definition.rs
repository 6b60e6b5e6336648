//! Cluster definitions: `compose/<system>.yaml`, in Compose file format, with an `x-perseus` extension.
//!
//! The file is a plain Compose file a user can read and that `docker-compose -f compose/etcd.yaml config`
//! accepts. Perseus reads the subset of keys it needs (listed in [`Service`]) and rejects any other
//! service key with the file, line and column, rather than silently ignoring it. At the top it
//! takes `version`, `name`, `services`, `volumes`, `networks`, `x-perseus` and Compose's `x-`
//! extensions (anchors for `<<:` merges), and refuses any other key. [`schema`] is the JSON
//! Schema of all this, made from the same types (`perseus schema definition`).
//!
//! Nodes: a service whose name is a node name (`n1`, `n2`, ...) is that node's main container; a
//! service with `network_mode: service:n1` is a sidecar of node n1 (it shares n1's network namespace).
//! For `--nodes N` the lab makes nodes n1..nN: a node the file defines is used as written; a missing one
//! is cloned from the `x-perseus.template` node, with every whole-word occurrence of the template's
//! name (`n1`) replaced by the new node's name, in its sidecars too.
//!
//! Interpolation follows Compose: `$$` is a literal `$`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`
//! and `$VAR` are replaced. The variables are those of `x-perseus.each-node`, built for the actual node
//! list (for example `PERSEUS_INITIAL_CLUSTER: "{node}=http://{node}:2380"` becomes
//! `n1=http://n1:2380,n2=http://n2:2380,...`), `PERSEUS_NODES` (the node count) and `PERSEUS_BIN_DIR`
//! (the folder of the running perseus executable, where `cargo build` also puts the workspace's
//! other binaries, such as Gryadka's proposer `gryadka`, which its nodes mount). The defaults in the file are what the Compose tool uses, so they should spell out the
//! three-node cluster. The nodes are made from a definition in `nodes.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::LabError;
use crate::error::{Error, Result};
use crate::locate;
use crate::systems::{self, Settings, System};

use super::compose::{interpolate, is_node_name, Service};
use super::version::{Release, Versions};

/// How many `x-perseus.probe-ports` a definition may name (each takes a range of host ports
/// across hosts: `lab::create`'s `published_port`).
pub const MAX_PROBE_PORTS: usize = 5;

/// A parsed cluster definition.
#[derive(Debug, Clone)]
pub struct Definition {
    /// The file it was read from.
    pub file: PathBuf,
    /// The services, by name, as written (before templating and interpolation).
    pub services: BTreeMap<String, Service>,
    /// Top-level named volumes.
    pub volumes: Vec<String>,
    /// The Perseus extension.
    pub perseus: Extension,
    /// The system implementation `x-perseus.kind` names, resolved when the file was parsed.
    pub system: &'static dyn System,
    /// What the definition tells its system (client user and database, schema statements).
    pub settings: Settings,
    /// The release its versioned containers run ([`Definition::at`]): the default one when the
    /// definition lists releases, `None` when it lists none.
    pub release: Option<Release>,
    text: String,
}

/// The `x-perseus` extension: what the lab needs beyond Compose.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Extension {
    /// The lab this file defines (`etcd`): its name in every command and on every Docker object.
    pub system: String,
    /// The system implementation under `src/systems/` that drives it (load driver, readiness,
    /// leaders, schema): a name in [`crate::systems::REGISTRY`]; default: `system`. A database that
    /// speaks the protocol of a known system names that one (`kind: postgres`).
    #[serde(default)]
    pub kind: Option<String>,
    /// Its name as people write it (`CockroachDB`), for reports and `perseus table`; default:
    /// `system`.
    #[serde(default)]
    pub title: Option<String>,
    /// The TCP port clients connect to, inside each node.
    pub client_port: u16,
    /// Other TCP ports of each node that Perseus itself reaches from this machine (a status or
    /// health API its system's readiness and leader checks ask: `[8080]`), at most
    /// [`MAX_PROBE_PORTS`]. On one machine they are reached at the node's address; across
    /// hosts each is published on the node's host, as the client port is.
    #[serde(default)]
    pub probe_ports: Vec<u16>,
    /// The TCP port, inside each node, where the node serves read-only transactions from its own
    /// copy of the data, past whatever routes the client port to a primary (Patroni: PostgreSQL's
    /// own 5432 behind HAProxy's 5000): where `--replica-reads` sends them, as a managed
    /// database's reader endpoint would. One of `probe-ports`, so it is published across hosts.
    #[serde(default)]
    pub read_port: Option<u16>,
    /// The node that `--nodes N` clones for nodes the file does not define.
    pub template: String,
    /// The Docker hosts its lab runs across when `lab up` and `run` are given none
    /// (`hosts: [ssh://ops@db1, ssh://ops@db2]`, two or more, members of one Swarm;
    /// docs/hosts.md). Empty: this machine's engine.
    #[serde(default)]
    pub hosts: Vec<crate::lab::hosts::HostSpec>,
    /// Interpolation variables built from the node list: name → per-node pattern with `{node}`,
    /// joined with commas.
    #[serde(default)]
    pub each_node: BTreeMap<String, String>,
    /// The user the SQL drivers connect as (default `root`).
    #[serde(default)]
    pub client_user: Option<String>,
    /// The database the SQL drivers connect to (PostgreSQL wire: `defaultdb`, `postgres`).
    #[serde(default)]
    pub client_database: Option<String>,
    /// A command run once in one node's main container after the containers start, retried every
    /// second until it exits 0 (cluster initialisation: `cockroach init`).
    #[serde(default)]
    pub init: Option<InitCommand>,
    /// SQL statements run in order through the system's SQL wire once the cluster is ready
    /// ([`System::prepare`]), retried together until all succeed, so each must be idempotent
    /// (`CREATE ... IF NOT EXISTS`). They must create the loop's table `lily.counters (id, value)`.
    #[serde(default)]
    pub schema: Vec<String>,
    /// What the system's own client does differently in this definition, by name (scalars:
    /// `allow-direct: false` for NATS' bucket); each system says which it takes
    /// ([`crate::systems::System::check`]), and the rest are refused.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, PlainValue>")]
    pub options: BTreeMap<String, serde_yaml::Value>,
    /// Where the schema is made: `one-node` (a cluster replicates it; the default) or
    /// `every-node` (independent servers, as in the control systems).
    #[serde(default)]
    pub schema_on: SchemaOn,
    /// A command run in a node's main container before a graceful `stop` (`cockroach node drain`),
    /// bounded by `stop-timeout`.
    #[serde(default)]
    pub drain: Option<Vec<String>>,
    /// The web console of a node, printed by `lab up`: `{ip}` is replaced by the first node's
    /// address (`http://{ip}:8080/`).
    #[serde(default)]
    pub admin_url: Option<String>,
    /// The fewest nodes the system runs with (`--nodes` below it is refused; default 1).
    #[serde(default = "default_min_nodes")]
    pub min_nodes: usize,
    /// Whether `lab add-node` may add a node: the system lets a new member join by itself.
    #[serde(default)]
    pub add_node: bool,
    /// The releases the definition can run and where each comes from
    /// ([`crate::lab::version`]); none: it runs the one its images hold.
    #[serde(default)]
    pub versions: Option<Versions>,
    /// How long `lab up` waits for readiness (humantime, e.g. `90s`).
    #[serde(default = "default_ready_timeout", with = "crate::units::duration")]
    #[schemars(with = "crate::units::DurationText")]
    pub ready_timeout: Duration,
    /// Grace period of a graceful `stop` before SIGKILL (humantime).
    #[serde(default = "default_stop_timeout", with = "crate::units::duration")]
    #[schemars(with = "crate::units::DurationText")]
    pub stop_timeout: Duration,
    /// Where each node's main container keeps its data (`/data`): the directory the lazy file
    /// system mounts over for `lab up --lazyfs` and `power-loss` ([`crate::lab::lazy`]), and
    /// where `fault corrupt` looks. None: the system has no power-loss fault.
    #[serde(default)]
    pub data_dir: Option<String>,
    /// Whether the nodes run under the lazy file system without `--lazyfs` (a definition made to
    /// show what a durability setting buys, such as `redis-aof`). Needs `data-dir`.
    #[serde(default)]
    pub lazyfs: bool,
}

/// `x-perseus.schema-on`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SchemaOn {
    /// On the first node that takes it; the system replicates it.
    #[default]
    OneNode,
    /// On every node.
    EveryNode,
}

/// `x-perseus.init`: a command for one node.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InitCommand {
    /// The node whose main container runs it (`n1`).
    pub node: String,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Output that also counts as success, for a command that refuses to do twice what an
    /// earlier, abandoned attempt did (`cluster has already been initialized`).
    #[serde(default)]
    pub already_done: Option<String>,
}

/// The JSON Schema of an `x-perseus.options` value: a plain value (text, a number, true or false),
/// as [`Definition::parse`] takes it.
struct PlainValue;

impl JsonSchema for PlainValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PlainValue".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": ["string", "number", "boolean"]})
    }
}

/// A definition file as serde reads it: Compose's top level, of which Perseus reads `services`,
/// `volumes` and `x-perseus`, and lets `version`, `name` and `networks` be (the lab makes its own
/// network). Other `x-` keys are Compose extensions (anchors for `<<:` merges): skipped before
/// this is read. Any other top-level key (`configs`, `secrets`, `include`) is refused: Perseus
/// would not do what it says.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct File {
    /// The Compose file format version (informational; `"2.4"`).
    #[serde(default)]
    #[allow(dead_code)]
    version: Option<String>,
    /// The Compose project name (informational: the lab names its objects after the system).
    #[serde(default)]
    #[allow(dead_code)]
    name: Option<String>,
    /// The services: each node's main container (`n1`, `n2`, ...) and its sidecars
    /// (`network_mode: service:<node>`).
    services: BTreeMap<String, Service>,
    /// The named volumes the services mount.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    volumes: Option<BTreeMap<String, serde_yaml::Value>>,
    /// Networks (informational: the lab makes one network).
    #[serde(default)]
    #[allow(dead_code)]
    #[schemars(with = "Option<serde_json::Value>")]
    networks: Option<serde_yaml::Value>,
    /// The Perseus extension: what the lab needs beyond Compose (required: its absence is
    /// refused with a message of its own).
    #[serde(rename = "x-perseus")]
    #[schemars(with = "Extension")]
    perseus: Option<Extension>,
}

/// The JSON Schema (draft 2020-12) of a definition file (`perseus schema definition`, shipped as
/// `schemas/definition.schema.json`), generated from the types [`Definition::parse`] reads: the
/// part of the Compose format Perseus reads ([`Service`]: unknown service keys are refused, as the
/// parser refuses them), `x-perseus` in full, and Compose's `x-` extensions anywhere at the top.
/// What needs more than one key (a template that is a service, a volume that is declared, a
/// system implementation that exists) is for the parser.
pub fn schema() -> serde_json::Value {
    let mut root = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<File>();
    root.insert("title".into(), "Perseus cluster definition".into());
    root.insert(
        "description".into(),
        "A Compose file with an x-perseus extension: one system's cluster (docs/adding-a-system.md)."
            .into(),
    );
    root.insert(
        "patternProperties".into(),
        serde_json::json!({"^x-": {"description": "A Compose extension (an anchor for `<<:` merges), which Perseus skips."}}),
    );
    root.to_value()
}

fn default_min_nodes() -> usize {
    1
}

fn default_ready_timeout() -> Duration {
    Duration::from_secs(90)
}
fn default_stop_timeout() -> Duration {
    Duration::from_secs(10)
}

/// The largest cluster the lab makes.
pub const MAX_NODES: usize = 9;

impl Definition {
    /// Read and validate a definition file.
    ///
    /// Errors: [`Error::MissingFile`] when it cannot be read; [`Error::Definition`] with file, line
    /// and column for malformed YAML, unknown keys, or a definition that does not hold together.
    pub fn load(file: &Path) -> Result<Definition> {
        let text = std::fs::read_to_string(file).map_err(|source| Error::MissingFile {
            path: file.to_path_buf(),
            source,
        })?;
        Definition::parse(file, &text)
    }

    /// Parse definition text (`file` is used for messages and relative paths).
    ///
    /// Errors: [`Error::Definition`] with a line and column in `text` (line 1 column 1 when the
    /// whole file is wrong, [`locate::placed`]).
    pub fn parse(file: &Path, text: &str) -> Result<Definition> {
        Definition::parse_text(file, text).map_err(|e| locate::place(e, text))
    }

    /// [`Definition::parse`], where a position may be unknown (0).
    fn parse_text(file: &Path, text: &str) -> Result<Definition> {
        let mut value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            Error::Definition {
                file: file.to_path_buf(),
                line,
                column,
                message: format!("{e}"),
            }
        })?;
        // Compose files use YAML merge keys (`<<: *anchor`); serde_yaml applies them only on request.
        value.apply_merge().map_err(|e| Error::Definition {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("{e}"),
        })?;
        // Compose's extensions at the top (`x-etcd-node: &node`) are for merges, done above.
        if let serde_yaml::Value::Mapping(top) = &mut value {
            top.retain(|k, _| {
                k.as_str()
                    .is_none_or(|k| k == "x-perseus" || !k.starts_with("x-"))
            });
        }
        let raw: File = serde_yaml::from_value(value).map_err(|e| {
            // A typed error has no location once merged: find the offending key in the text.
            let msg = e.to_string();
            let key = msg.split('`').nth(1).unwrap_or("");
            let (line, column) = if key.is_empty() {
                (0, 0)
            } else {
                locate::first_key(text, key).unwrap_or((0, 0))
            };
            Error::Definition {
                file: file.to_path_buf(),
                line,
                column,
                message: format!(
                    "{msg}; `perseus schema definition` lists the keys and values a definition takes (docs/adding-a-system.md)"
                ),
            }
        })?;
        let perseus = raw.perseus.ok_or_else(|| Error::Definition {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            message: "no x-perseus section: add one naming system, client-port and template".into(),
        })?;
        let kind = perseus.kind.as_deref().unwrap_or(&perseus.system);
        let system = systems::lookup(kind).map_err(|e| {
            let at = if perseus.kind.is_some() {
                "x-perseus.kind"
            } else {
                "x-perseus.system"
            };
            let (line, column) = at_path(text, at);
            Error::Definition {
                file: file.to_path_buf(),
                line,
                column,
                message: format!(
                    "{e} (x-perseus.kind names the implementation; it defaults to x-perseus.system)"
                ),
            }
        })?;
        let settings = Settings {
            client_user: perseus.client_user.clone(),
            client_database: perseus.client_database.clone(),
            schema: perseus.schema.clone(),
            read_port: perseus.read_port,
            options: perseus
                .options
                .iter()
                .map(|(k, v)| match v {
                    serde_yaml::Value::Bool(b) => Ok((k.clone(), b.to_string())),
                    serde_yaml::Value::Number(n) => Ok((k.clone(), n.to_string())),
                    serde_yaml::Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => {
                        let (line, column) = at_path(text, &format!("x-perseus.options[{k}]"));
                        Err(Error::Definition {
                            file: file.to_path_buf(),
                            line,
                            column,
                            message: format!(
                                "x-perseus.options.{k} must be a plain value (true, 3, text)"
                            ),
                        })
                    }
                })
                .collect::<Result<_>>()?,
        };
        let mut def = Definition {
            file: file.to_path_buf(),
            services: raw.services,
            volumes: raw.volumes.unwrap_or_default().into_keys().collect(),
            perseus,
            system,
            settings,
            release: None,
            text: text.to_string(),
        };
        if let Some(versions) = &def.perseus.versions {
            if let Some(problem) = versions.problem() {
                return Err(def.error_at("x-perseus.versions", problem));
            }
            def.release = Some(versions.release(&def.perseus.system, None)?);
        }
        def.validate()?;
        Ok(def)
    }

    /// The definition at release `version` (`None`: its default), the one whose images `nodes`
    /// then names and builds.
    ///
    /// Errors: [`LabError::UnknownVersion`] for a release it does not list, naming those it
    /// does; [`LabError::NoVersions`] for a version asked of a definition that lists none.
    pub fn at(mut self, version: Option<&str>) -> Result<Definition> {
        let system = self.perseus.system.clone();
        match (&self.perseus.versions, version) {
            (Some(versions), _) => self.release = Some(versions.release(&system, version)?),
            (None, Some(v)) => {
                return Err(LabError::NoVersions {
                    system,
                    version: v.to_string(),
                }
                .into())
            }
            (None, None) => {}
        }
        Ok(self)
    }

    /// The version its versioned containers run, when it lists releases.
    pub fn version(&self) -> Option<&str> {
        self.release.as_ref().map(|r| r.version.as_str())
    }

    /// An error at the YAML path `at` (`services[n1].volumes[0]`), or at the nearest place above
    /// it that the text holds.
    pub(super) fn error_at(&self, at: &str, message: String) -> Error {
        let (line, column) = at_path(&self.text, at);
        Error::Definition {
            file: self.file.clone(),
            line,
            column,
            message,
        }
    }

    fn validate(&self) -> Result<()> {
        let p = &self.perseus;
        if !self.services.contains_key(&p.template) {
            return Err(self.error_at(
                "x-perseus.template",
                format!(
                    "x-perseus.template names '{}', which is not a service: name the service nodes are cloned from (e.g. n1)",
                    p.template
                ),
            ));
        }
        if !is_node_name(&p.template) {
            return Err(self.error_at(
                "x-perseus.template",
                format!(
                    "x-perseus.template '{}' is not a node name: use n1",
                    p.template
                ),
            ));
        }
        for (name, svc) in &self.services {
            match &svc.network_mode {
                Some(mode) => {
                    let Some(owner) = mode.strip_prefix("service:") else {
                        return Err(self.error_at(
                            &format!("services[{name}].network_mode"),
                            format!("service {name}: network_mode '{mode}' is not supported: use service:<node> for a sidecar, or leave it out"),
                        ));
                    };
                    if !is_node_name(owner) || !self.services.contains_key(owner) {
                        return Err(self.error_at(
                            &format!("services[{name}].network_mode"),
                            format!("service {name}: network_mode names '{owner}', which is not a node service (n1, n2, ...)"),
                        ));
                    }
                }
                None if !is_node_name(name) => {
                    return Err(self.error_at(
                        &format!("services[{name}]"),
                        format!("service '{name}' is neither a node (n1, n2, ...) nor a sidecar (network_mode: service:<node>): rename it or add network_mode"),
                    ));
                }
                None => {}
            }
            for (i, raw) in svc.volumes.iter().enumerate() {
                let at = format!("services[{name}].volumes[{i}]");
                let v = &interpolate(raw, &self.variables(&Definition::node_names(3)))
                    .map_err(|m| self.error_at(&at, format!("service {name}: {m}")))?;
                let parts: Vec<&str> = v.split(':').collect();
                if parts.len() < 2
                    || parts.len() > 3
                    || (parts.len() == 3 && !matches!(parts[2], "ro" | "rw"))
                {
                    return Err(self.error_at(
                        &at,
                        format!("service {name}: volume '{v}' is not source:target[:ro]"),
                    ));
                }
                let src = parts[0];
                let named = !(src.starts_with('.') || src.starts_with('/'));
                if named && !self.volumes.iter().any(|n| n == src) {
                    return Err(self.error_at(&at, format!("service {name}: volume '{src}' is not declared under the top-level volumes: add it there")));
                }
            }
        }
        self.system.check(&self.settings).map_err(|e| {
            let at = if e.contains("x-perseus.options") {
                "x-perseus.options"
            } else {
                "x-perseus.schema"
            };
            self.error_at(at, e)
        })?;
        if let Some(init) = &p.init {
            if !is_node_name(&init.node) || !self.services.contains_key(&init.node) {
                return Err(self.error_at(
                    "x-perseus.init.node",
                    format!(
                        "x-perseus.init.node '{}' is not a node service: use n1",
                        init.node
                    ),
                ));
            }
            if init.command.is_empty() {
                return Err(self.error_at(
                    "x-perseus.init.command",
                    "x-perseus.init.command is empty: give the command to run".into(),
                ));
            }
        }
        if let Some(dir) = &p.data_dir {
            if !dir.starts_with('/') || dir == "/" {
                return Err(self.error_at(
                    "x-perseus.data-dir",
                    format!("x-perseus.data-dir '{dir}' is not a directory below /: give the absolute path of the node's data (e.g. /data)"),
                ));
            }
        }
        if p.lazyfs && p.data_dir.is_none() {
            return Err(self.error_at(
                "x-perseus.lazyfs",
                "x-perseus.lazyfs needs x-perseus.data-dir: say where the nodes keep their data"
                    .into(),
            ));
        }
        if p.drain.as_ref().is_some_and(|d| d.is_empty()) {
            return Err(self.error_at(
                "x-perseus.drain",
                "x-perseus.drain is empty: give the command to run, or leave drain out".into(),
            ));
        }
        if !p.hosts.is_empty() {
            crate::lab::hosts::check_hosts(&p.hosts, "x-perseus.hosts")
                .map_err(|e| self.error_at("x-perseus.hosts", e.to_string()))?;
        }
        let probes = &self.perseus.probe_ports;
        if probes.len() > MAX_PROBE_PORTS
            || probes
                .iter()
                .any(|&p| p == 0 || p == self.perseus.client_port)
        {
            return Err(self.error_at(
                "x-perseus.probe-ports",
                format!("x-perseus.probe-ports takes at most {MAX_PROBE_PORTS} TCP ports other than the client port"),
            ));
        }
        if let Some(port) = self.perseus.read_port {
            if !probes.contains(&port) {
                return Err(self.error_at(
                    "x-perseus.read-port",
                    format!("x-perseus.read-port {port} must be one of x-perseus.probe-ports (so it is reached across hosts too): add it there"),
                ));
            }
        }
        if self.perseus.client_port == 0 {
            return Err(self.error_at(
                "x-perseus.client-port",
                "x-perseus.client-port must be a TCP port (1-65535)".into(),
            ));
        }
        Ok(())
    }

    /// The folder the definition lives in (relative paths resolve against it).
    pub fn dir(&self) -> PathBuf {
        self.file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

/// 1-based line and column of the YAML path `at` in `text` (`x-perseus.template`,
/// `services[n1].volumes[0]`), or of the nearest place above it the text holds; (0, 0) when the
/// text does not parse.
fn at_path(text: &str, at: &str) -> (usize, usize) {
    locate::locate_nearest(text, &locate::path(at)).unwrap_or((0, 0))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A two-node etcd definition whose n1 is the template (the node tests use it too).
    pub(crate) const ETCD: &str = r#"
name: perseus-etcd
x-etcd: &etcd
  image: perseus/etcd:3.4
  build: { context: ../docker/etcd }
  environment:
    ETCD_INITIAL_CLUSTER: ${PERSEUS_INITIAL_CLUSTER:-n1=http://n1:2380,n2=http://n2:2380,n3=http://n3:2380}
services:
  n1:
    <<: *etcd
    hostname: n1
    command: ["--name", "n1", "--data-dir", "/data/n1"]
    volumes: ["n1-data:/data"]
  n2:
    <<: *etcd
    hostname: n2
    command: ["--name", "n2"]
    volumes: ["n2-data:/data"]
volumes:
  n1-data: {}
  n2-data: {}
x-perseus:
  system: etcd
  client-port: 2379
  template: n1
  each-node:
    PERSEUS_INITIAL_CLUSTER: "{node}=http://{node}:2380"
"#;

    /// Parse `text` as `/x/compose/etcd.yaml`.
    pub(crate) fn parse(text: &str) -> Result<Definition> {
        Definition::parse(Path::new("/x/compose/etcd.yaml"), text)
    }

    #[test]
    fn unknown_service_key_is_reported_with_line_and_column() {
        let bad = ETCD.replace("    hostname: n2\n", "    hostname: n2\n    deploy: {}\n");
        let err = parse(&bad).unwrap_err();
        match err {
            Error::Definition {
                line,
                column,
                message,
                ..
            } => {
                assert_eq!(line, 17, "{message}");
                assert!(column > 0);
                assert!(message.contains("deploy"), "{message}");
            }
            other => panic!("wrong error {other:?}"),
        }
        assert_eq!(parse(&bad).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn malformed_yaml_and_semantic_errors_name_the_place() {
        let err = parse("services: [\n").unwrap_err();
        assert!(matches!(err, Error::Definition { line: 2, .. }), "{err}");
        let err = parse(&ETCD.replace("template: n1", "template: n7")).unwrap_err();
        assert!(err.to_string().contains("n7"), "{err}");
        assert!(err.to_string().contains("etcd.yaml:"), "{err}");
        let err = parse(&ETCD.replace("\"n2-data:/data\"", "\"nope:/data\"")).unwrap_err();
        assert!(err.to_string().contains("'nope' is not declared"), "{err}");
        let err = parse(&ETCD.replace("x-perseus:", "x-other:")).unwrap_err();
        assert!(err.to_string().contains("no x-perseus"), "{err}");
        let err = parse(&ETCD.replace("system: etcd", "system: mongo")).unwrap_err();
        assert!(
            err.to_string()
                .contains("no system implementation is called 'mongo'"),
            "{err}"
        );
        let text = ETCD.replace("system: etcd", "system: etcd\n  kind: mongo");
        let kind_line = text.lines().position(|l| l == "  kind: mongo").unwrap() + 1;
        let err = parse(&text).unwrap_err();
        // At the value, as the scenario errors and serde_yaml's own are.
        assert!(
            matches!(err, Error::Definition { line, column: 9, .. } if line == kind_line),
            "{err}"
        );
        // The place is found by its path, not by the first text that looks like it: `db:` is
        // also the end of an environment key above the service.
        let text = ETCD
            .replace(
                "    ETCD_INITIAL_CLUSTER:",
                "    proxy_db: \"1\"\n    ETCD_INITIAL_CLUSTER:",
            )
            .replace(
                "volumes:\n  n1-data",
                "  db:\n    image: x\nvolumes:\n  n1-data",
            );
        let db_line = text.lines().position(|l| l == "  db:").unwrap() + 1;
        let err = parse(&text).unwrap_err();
        assert!(err.to_string().contains("service 'db' is neither"), "{err}");
        assert!(
            // The service's value: its first key, the line below `db:`.
            matches!(err, Error::Definition { line, column: 5, .. } if line == db_line + 1),
            "{err}"
        );
        // A volume's error is at that volume, in the service that has it.
        let text = ETCD.replace("\"n2-data:/data\"", "\"n1-data:/data:rx\"");
        let err = parse(&text).unwrap_err();
        let n2_volumes = text
            .lines()
            .position(|l| l.contains("n1-data:/data:rx"))
            .unwrap()
            + 1;
        assert!(
            matches!(err, Error::Definition { line, .. } if line == n2_volumes),
            "{err}"
        );
        let def = parse(&ETCD.replace("system: etcd", "system: keydb\n  kind: redis")).unwrap();
        assert_eq!(
            (def.perseus.system.as_str(), def.system.name()),
            ("keydb", "redis")
        );
        let err = parse(&ETCD.replace("template: n1", "template: n1\n  drain: []")).unwrap_err();
        assert!(
            err.to_string().contains("x-perseus.drain is empty"),
            "{err}"
        );
        let def = parse(&ETCD.replace(
            "template: n1",
            "template: n1\n  hosts: [ssh://ops@db1, tcp://10.0.0.2]",
        ))
        .unwrap();
        let urls: Vec<&str> = def.perseus.hosts.iter().map(|h| h.url.as_str()).collect();
        if std::env::var_os("DOCKER_TLS_VERIFY").is_none() {
            assert_eq!(urls, ["ssh://ops@db1", "tcp://10.0.0.2:2375"]);
        }
        for (bad, says) in [
            ("[ssh://ops@db1]", "names 1 host(s)"),
            ("[ssh://db1, ssh://db1]", "listed twice in x-perseus.hosts"),
            ("[db1, db2]", "host 'db1' is not a Docker endpoint"),
        ] {
            let err =
                parse(&ETCD.replace("template: n1", &format!("template: n1\n  hosts: {bad}")))
                    .unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
        let def =
            parse(&ETCD.replace("template: n1", "template: n1\n  probe-ports: [8222]")).unwrap();
        assert_eq!(def.perseus.probe_ports, [8222]);
        for bad in ["[2379]", "[0]", "[1, 2, 3, 4, 5, 6]"] {
            let err = parse(&ETCD.replace(
                "template: n1",
                &format!("template: n1\n  probe-ports: {bad}"),
            ))
            .unwrap_err();
            assert!(
                err.to_string().contains("probe-ports takes at most 5"),
                "{bad}: {err}"
            );
        }
        let def = parse(&ETCD.replace(
            "template: n1",
            "template: n1\n  probe-ports: [8222]\n  read-port: 8222",
        ))
        .unwrap();
        assert_eq!(def.settings.read_port, Some(8222));
        let err =
            parse(&ETCD.replace("template: n1", "template: n1\n  read-port: 5432")).unwrap_err();
        assert!(
            err.to_string()
                .contains("x-perseus.read-port 5432 must be one of x-perseus.probe-ports"),
            "{err}"
        );
        let err = parse(&ETCD.replace(
            "template: n1",
            "template: n1\n  schema: [\"CREATE TABLE t (id INT)\"]",
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("x-perseus.schema needs a system that speaks SQL"),
            "{err}"
        );
        // Options are the system's: etcd takes none, and says where the one given is.
        let err = parse(&ETCD.replace(
            "template: n1",
            "template: n1\n  options:\n    allow-direct: false",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("x-perseus.options.allow-direct means nothing to etcd"),
            "{err}"
        );
        let line = ETCD
            .lines()
            .position(|l| l.contains("template: n1"))
            .unwrap()
            + 3;
        // At the options' value: its first entry, `allow-direct` (1-based: template, options, it).
        assert!(err.contains(&format!(":{line}:5:")), "{err}");
        let err = parse(&ETCD.replace(
            "template: n1",
            "template: n1\n  options:\n    allow-direct: [1]",
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("options.allow-direct must be a plain value"),
            "{err}"
        );
        let err = parse(&ETCD.replace(
            "template: n1",
            "template: n1\n  init: {node: n9, command: [x]}",
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("init.node 'n9' is not a node service"),
            "{err}"
        );
    }
}
