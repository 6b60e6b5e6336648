//! `perseus schema` as editors and outside validators use it (no Docker): the shipped schemas are
//! what the binary prints, every shipped scenario and definition passes both the schema (checked
//! by an outside validator, Python's `jsonschema`) and Perseus' own check, and broken files (a
//! wrong key, type or name) fail both, each with one line and exit 2 from Perseus.
//!
//! The validator is `tests/schema/validate.py` run by `$PERSEUS_PYTHON`, `python3` or
//! `/usr/bin/python3`, the first that has `jsonschema` and PyYAML (`scripts/setup` installs
//! Debian's python3-jsonschema and python3-yaml). Without one the tests say so and pass, except
//! under `CI=true`, where a missing validator fails them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `perseus ARGS` in the checkout, with `env` set.
fn perseus(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perseus"));
    cmd.args(args)
        .current_dir(root())
        .env_remove("PERSEUS_HOME");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("perseus runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The `.yaml` files of a folder under the checkout, sorted.
fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{dir} has no .yaml file");
    files
}

/// A Python with `jsonschema` and PyYAML, or `None` (a failure under CI=true).
fn python() -> Option<String> {
    let mut candidates: Vec<String> = std::env::var("PERSEUS_PYTHON").into_iter().collect();
    candidates.extend(["python3".to_string(), "/usr/bin/python3".to_string()]);
    let found = candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import jsonschema, yaml"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        let why = "no Python with jsonschema and PyYAML (python3, /usr/bin/python3, $PERSEUS_PYTHON): run scripts/setup (Debian: apt-get install python3-jsonschema python3-yaml)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{why}");
        }
        eprintln!("skipped: {why}");
    }
    found
}

/// The outside validator's verdict on each file: `None` when the schema takes it, else its
/// message. The schema is the one `perseus schema KIND` prints now.
fn validate(py: &str, kind: &str, files: &[PathBuf]) -> Vec<(PathBuf, Option<String>)> {
    let out = perseus(&["schema", kind], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join(format!("{kind}.schema.json"));
    std::fs::write(&schema, &out.stdout).unwrap();
    let run = Command::new(py)
        .arg(root().join("tests/schema/validate.py"))
        .arg(&schema)
        .args(files)
        .output()
        .expect("the validator runs");
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", text(&run.stderr));
    let mut lines = stdout.lines();
    let version = lines.next().unwrap_or_default();
    assert!(version.starts_with("jsonschema "), "{stdout}");
    eprintln!("validator: {version}");
    let verdicts: Vec<(PathBuf, Option<String>)> = lines
        .map(|l| {
            if let Some(f) = l.strip_prefix("ok ") {
                (PathBuf::from(f), None)
            } else {
                let rest = l.strip_prefix("bad ").unwrap_or_else(|| panic!("{l}"));
                let (f, why) = rest.split_once(": ").unwrap_or_else(|| panic!("{l}"));
                (PathBuf::from(f), Some(why.to_string()))
            }
        })
        .collect();
    assert_eq!(verdicts.len(), files.len(), "{stdout}");
    verdicts
}

#[test]
fn the_shipped_schemas_are_what_perseus_schema_prints() {
    for kind in ["scenario", "definition"] {
        let out = perseus(&["schema", kind], &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let printed = text(&out.stdout);
        let json: serde_json::Value = serde_json::from_str(&printed).expect("JSON");
        assert_eq!(
            json["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{kind}"
        );
        let path = format!("schemas/{kind}.schema.json");
        let shipped = std::fs::read_to_string(root().join(&path)).unwrap_or_default();
        assert!(
            shipped == printed,
            "{path} differs from `perseus schema {kind}`: run `cargo run -- schema {kind} > {path}`"
        );
    }
    let out = perseus(&["schema", "scenarios"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn every_shipped_file_names_its_schema_on_its_first_line() {
    for (dir, kind) in [("scenarios", "scenario"), ("compose", "definition")] {
        let line = format!("# yaml-language-server: $schema=../schemas/{kind}.schema.json");
        for f in yaml_files(dir) {
            let text = std::fs::read_to_string(&f).unwrap();
            assert_eq!(
                text.lines().next(),
                Some(line.as_str()),
                "{}: the first line names the schema (editors complete and check with it)",
                f.display()
            );
        }
    }
}

#[test]
fn every_shipped_scenario_passes_the_schema_and_run_check() {
    let files = yaml_files("scenarios");
    let mut args = vec!["run".to_string(), "--check".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = perseus(&args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), files.len());
    let Some(py) = python() else { return };
    for (f, verdict) in validate(&py, "scenario", &files) {
        assert_eq!(verdict, None, "{}: the schema refuses it", f.display());
    }
}

#[test]
fn every_shipped_definition_passes_the_schema_and_the_parser() {
    let files = yaml_files("compose");
    for f in &files {
        if let Err(e) = perseus::lab::definition::Definition::load(f) {
            panic!("{}: {e}", f.display());
        }
    }
    let Some(py) = python() else { return };
    for (f, verdict) in validate(&py, "definition", &files) {
        assert_eq!(verdict, None, "{}: the schema refuses it", f.display());
    }
}

/// What Perseus and the schema say about each broken scenario: (file, Perseus' words, the
/// schema's path to the fault).
const BROKEN_SCENARIOS: [(&str, &str, &str); 11] = [
    (
        "bare-duration",
        "steps[0].at: '10' has no unit",
        "steps/0/at",
    ),
    ("missing-load", "missing field `load`", "(top)"),
    (
        "wrong-expectation",
        "unknown variant `lost-write`",
        "expect/0",
    ),
    ("wrong-fault", "unknown fault 'explode'", "steps/0/fault"),
    ("wrong-key", "unknown field `clients`", "load"),
    (
        "wrong-shape",
        "'square' is not a partition shape",
        "steps/0/shape",
    ),
    ("wrong-target", "'Boss' is not a target", "steps/0/target"),
    ("wrong-type", "invalid type: string \"three\"", "nodes"),
    (
        "wrong-window-key",
        "unknown field `atmost`",
        "expect/0/window",
    ),
    (
        "wrong-workload",
        "unknown variant `key-value`",
        "load/workload",
    ),
    (
        "wrong-rate",
        "rate \"fast\" is not a number of operations per second, like 3000/s",
        "load/rate",
    ),
];

/// One line on stderr, exit 2, naming the file and saying `says`.
fn assert_refused(out: &Output, file: &str, says: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{file}: one line: {stderr}");
    assert!(
        stderr.contains(file) && stderr.contains(says),
        "{file}: {stderr}"
    );
    assert!(out.stdout.is_empty(), "{file}: {}", text(&out.stdout));
}

#[test]
fn a_broken_scenario_fails_both_the_schema_and_run_check() {
    let files = yaml_files("tests/fixtures/broken-scenarios");
    assert_eq!(files.len(), BROKEN_SCENARIOS.len(), "{files:?}");
    for (name, says, _) in BROKEN_SCENARIOS {
        let file = format!("tests/fixtures/broken-scenarios/{name}.yaml");
        // No Docker is asked: a file that does not parse stops `run --check` first.
        let out = perseus(&["run", "--check", &file], &[]);
        assert_refused(&out, &file, says);
    }
    let Some(py) = python() else { return };
    for (f, verdict) in validate(&py, "scenario", &files) {
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let (_, _, at) = BROKEN_SCENARIOS
            .iter()
            .find(|(n, _, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} is not in BROKEN_SCENARIOS"));
        let why = verdict.unwrap_or_else(|| panic!("{}: the schema takes it", f.display()));
        assert!(why.starts_with(&format!("{at}: ")), "{name}: {why}");
    }
}

/// The same for broken definitions: (file, Perseus' words, the schema's path to the fault).
const BROKEN_DEFINITIONS: [(&str, &str, &str); 9] = [
    (
        "bare-duration",
        "'30' has no unit",
        "x-perseus/ready-timeout",
    ),
    ("extension-key", "unknown field `client-prot`", "x-perseus"),
    (
        "port-range",
        "integer `70000`, expected u16",
        "x-perseus/client-port",
    ),
    (
        "port-type",
        "invalid type: string \"redis\"",
        "x-perseus/client-port",
    ),
    (
        "release-source",
        "unknown variant `apt`",
        "x-perseus/versions/releases/0/source",
    ),
    (
        "schema-on",
        "unknown variant `all-nodes`",
        "x-perseus/schema-on",
    ),
    ("service-key", "unknown field `deploy`", "services/n2"),
    ("top-level-key", "unknown field `configs`", "(top)"),
    (
        "version-number",
        "the version 7.0 is a number to YAML",
        "x-perseus/versions/releases/0/versions/0",
    ),
];

#[test]
fn a_broken_definition_fails_both_the_schema_and_run_check() {
    let files = yaml_files("tests/fixtures/broken-definitions");
    assert_eq!(files.len(), BROKEN_DEFINITIONS.len(), "{files:?}");
    // A home whose redis definition is the broken file, and a scenario on it: `run --check`
    // reads the definition the scenario names.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join("compose")).unwrap();
    let scenario = home.path().join("s.yaml");
    std::fs::write(&scenario, "name: s\nsystem: redis\nload: {duration: 30s}\n").unwrap();
    let definition = home.path().join("compose/redis.yaml");
    for (name, says, _) in BROKEN_DEFINITIONS {
        std::fs::copy(
            root().join(format!("tests/fixtures/broken-definitions/{name}.yaml")),
            &definition,
        )
        .unwrap();
        let out = perseus(
            &["run", "--check", &scenario.display().to_string()],
            &[("PERSEUS_HOME", home.path())],
        );
        assert_refused(&out, &definition.display().to_string(), says);
        assert!(
            text(&out.stderr).contains("`perseus schema definition` lists the keys"),
            "{name}: says where the keys are: {}",
            text(&out.stderr)
        );
    }
    let Some(py) = python() else { return };
    for (f, verdict) in validate(&py, "definition", &files) {
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let (_, _, at) = BROKEN_DEFINITIONS
            .iter()
            .find(|(n, _, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} is not in BROKEN_DEFINITIONS"));
        let why = verdict.unwrap_or_else(|| panic!("{}: the schema takes it", f.display()));
        assert!(why.starts_with(&format!("{at}: ")), "{name}: {why}");
    }
}

/// Edge cases of shape, each judged alike by the schema and `run --check`: (scenario lines
/// after `name`, `system` and `load`, whether both take it).
const EDGE_CASES: [(&str, bool); 16] = [
    ("steps: ~", false),
    ("expect: ~", false),
    ("hosts: ~", false),
    ("description: ~", true),
    ("seed: ~", true),
    ("seed: -1", false),
    ("nodes: 2.5", false),
    ("steps:\n  - {at: 1.5s, fault: kill, target: [n1, n2]}", true),
    ("steps:\n  - {at: 1s, fault: kill, target: []}", false),
    ("steps:\n  - {at: 1s, fault: kill, target: \"n1,n2\"}", true),
    ("steps:\n  - {at: 1s, every: ~, fault: kill, target: n1}", false),
    ("steps:\n  - {at: 1m 5s, fault: power-loss-torn, target: all}", true),
    ("steps:\n  - {name: a, at: 1s, fault: kill, target: pd-leader}\nexpect:\n  - window: {after: -1, at-most: 1s}", false),
    ("expect:\n  - model: serializable\n  - anomalies: {G-single: x}", false),
    ("expect:\n  - lost-writes: ~", false),
    ("nodes: \"3\"", false),
];

#[test]
fn the_schema_and_run_check_judge_edge_cases_alike() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = EDGE_CASES
        .iter()
        .enumerate()
        .map(|(i, (lines, _))| {
            let f = dir.path().join(format!("case-{i}.yaml"));
            let workload = if lines.contains("model:") {
                "  workload: list-append\n"
            } else {
                ""
            };
            std::fs::write(
                &f,
                format!("name: c\nsystem: tidb\nload:\n  duration: 2m\n{workload}{lines}\n"),
            )
            .unwrap();
            f
        })
        .collect();
    for (f, (lines, ok)) in files.iter().zip(EDGE_CASES) {
        let out = perseus(&["run", "--check", &f.display().to_string()], &[]);
        let code = if ok { 0 } else { 2 };
        assert_eq!(
            out.status.code(),
            Some(code),
            "{lines}: {}",
            text(&out.stderr)
        );
    }
    let Some(py) = python() else { return };
    for ((f, verdict), (lines, ok)) in validate(&py, "scenario", &files)
        .into_iter()
        .zip(EDGE_CASES)
    {
        assert_eq!(
            verdict.is_none(),
            ok,
            "{lines} ({}): {verdict:?}",
            f.display()
        );
    }
}
