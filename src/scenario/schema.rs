//! The JSON Schema of a scenario file (`perseus schema scenario`, shipped as
//! `schemas/scenario.schema.json`), generated from the very types [`super::parse`] reads
//! ([`RawScenario`]), so that it cannot drift from the parser: unknown keys, wrong types and
//! unknown names (faults, shapes, directions, workloads, expectations) are refused by both.
//!
//! The schema states the shape of a file. What needs the whole scenario or the lab's definitions
//! (a step after the load's end, a node the lab does not have, a step name no earlier step has, a
//! fault's missing amount) is for `perseus run --check`, which also reads the file this way first.

use schemars::generate::SchemaSettings;

use super::format::RawScenario;

/// The JSON Schema (draft 2020-12) of a scenario file, as JSON.
pub fn schema() -> serde_json::Value {
    let mut root = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<RawScenario>();
    root.insert("title".into(), "Perseus scenario".into());
    root.insert(
        "description".into(),
        "An experiment for `perseus run`: which system, how much load, which faults when, and what must hold (docs/scenarios.md). `perseus run --check FILE` checks what this schema cannot: times, node counts, step names, the system's definition."
            .into(),
    );
    root.to_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::{Direction, Shape};
    use crate::scenario::format::{Aim, FaultKind, AIM_PATTERN};
    use serde::Deserialize;

    fn aim_ok(s: &str) -> bool {
        Aim::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s))
            .is_ok()
    }

    /// The target pattern takes exactly the texts the parser takes as a target or a step name.
    #[test]
    fn the_target_pattern_agrees_with_the_parser() {
        let re = regex::Regex::new(AIM_PATTERN).unwrap();
        for s in [
            "n1",
            "n12",
            "n1,n2",
            "n1,n2,n3",
            "leader",
            "follower",
            "random",
            "all",
            "pd-leader",
            "crash",
            "kill-2",
            "n01",
            "n1-x",
            "a",
        ] {
            assert!(aim_ok(s), "{s}");
            assert!(re.is_match(s), "{s}");
        }
        for s in [
            "Leader", "", "-leader", "n1,", "n1,x", ",n1", "n1 n2", "2nd", "crash_1", "n1,n0",
            "lead er",
        ] {
            assert!(!aim_ok(s), "{s}");
            assert!(!re.is_match(s), "{s}");
        }
    }

    /// Every name the schema lists is one the parser takes, and the parser takes no other.
    #[test]
    fn the_schema_lists_every_fault_shape_and_direction_the_parser_takes() {
        let schema = schema();
        let defs = &schema["$defs"];
        let names = |def: &str| -> Vec<String> {
            let d = &defs[def];
            let list = d["enum"]
                .as_array()
                .or_else(|| d["oneOf"].as_array())
                .unwrap_or_else(|| panic!("{def}: {d}"));
            list.iter()
                .map(|v| {
                    v.as_str()
                        .or_else(|| v["const"].as_str())
                        .or_else(|| v["enum"][0].as_str())
                        .unwrap_or_else(|| panic!("{def}: {v}"))
                        .to_string()
                })
                .collect()
        };
        let faults = names("Fault");
        assert_eq!(faults.len(), 16, "{faults:?}");
        for f in &faults {
            assert_eq!(&f.parse::<FaultKind>().unwrap().to_string(), f);
        }
        assert!("kil".parse::<FaultKind>().is_err());
        let shapes = names("Shape");
        assert_eq!(shapes, Shape::ALL.map(|s| s.name().to_string()));
        for s in &shapes {
            assert!(s.parse::<Shape>().is_ok(), "{s}");
        }
        let directions = names("Direction");
        assert_eq!(directions, ["in", "out", "both"]);
        for d in &directions {
            assert!(d.parse::<Direction>().is_ok(), "{d}");
        }
        // Unknown keys are refused, as the parser's deny_unknown_fields refuses them.
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(defs["RawStep"]["additionalProperties"], false);
        assert_eq!(defs["LoadSpec"]["additionalProperties"], false);
    }

    #[test]
    fn the_system_pattern_agrees_with_the_parser() {
        let re = regex::Regex::new(crate::lab::version::SYSTEM_REF_PATTERN).unwrap();
        for s in ["etcd", "etcd@3.5.1", "nats@2.10.0-rc_1", "x@a"] {
            assert!(crate::lab::SystemRef::parse(s).is_ok(), "{s}");
            assert!(re.is_match(s), "{s}");
        }
        for s in ["", "@3.5", "etcd@", "etcd@.1", "etcd@3@4", "etcd@3 5"] {
            assert!(crate::lab::SystemRef::parse(s).is_err(), "{s}");
            assert!(!re.is_match(s), "{s}");
        }
    }
}
