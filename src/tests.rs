//! The crate's tests across modules: property tests of the parsers a user's files go through
//! (scenario, definition, history) over arbitrary input: the shipped files with random edits, and
//! text from nowhere. None may panic; every refusal is an error that maps to exit code 2 and says
//! where, within the text.

use std::path::Path;

use proptest::prelude::*;

use crate::error::Error;

/// A shipped file, as the edits start from it.
const SCENARIO: &str = include_str!("../scenarios/etcd-kill-leader.yaml");
const DEFINITION: &str = include_str!("../compose/patroni.yaml");

/// One edit of a text: at a fraction of its length, delete a few characters, insert some that
/// YAML (or EDN) gives meaning to, or duplicate a line.
#[derive(Debug, Clone)]
enum Edit {
    Delete(f64, usize),
    Insert(f64, String),
    DuplicateLine(f64),
}

fn edit() -> impl Strategy<Value = Edit> {
    let meaningful = prop::sample::select(vec![
        ":",
        " ",
        "\n",
        "-",
        "{",
        "}",
        "[",
        "]",
        "\"",
        "'",
        "#",
        "&a",
        "*a",
        "<<: *a",
        "\t",
        "!",
        "|",
        ">",
        "?",
        ",",
        "0",
        "1s",
        "-1",
        "999999999999999999999",
        "é",
        "\u{0}",
        "n9",
        "leader",
        "at: ",
        "fault: ",
        "~",
        "null",
    ]);
    prop_oneof![
        (0.0..1.0f64, 1usize..8).prop_map(|(at, n)| Edit::Delete(at, n)),
        (0.0..1.0f64, prop::collection::vec(meaningful, 1..4))
            .prop_map(|(at, s)| Edit::Insert(at, s.concat())),
        (0.0..1.0f64).prop_map(Edit::DuplicateLine),
    ]
}

/// `text` with `edits` applied, each at a character boundary.
fn edited(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let at = |f: f64, len: usize| ((f * len as f64) as usize).min(len);
        match e {
            Edit::Delete(f, n) => {
                let i = at(*f, chars.len());
                let end = (i + n).min(chars.len());
                chars.drain(i..end);
            }
            Edit::Insert(f, s) => {
                let i = at(*f, chars.len());
                chars.splice(i..i, s.chars());
            }
            Edit::DuplicateLine(f) => {
                let text: String = chars.iter().collect();
                let lines: Vec<&str> = text.split_inclusive('\n').collect();
                if !lines.is_empty() {
                    let k = at(*f, lines.len() - 1);
                    let mut out: Vec<&str> = lines.clone();
                    out.insert(k, lines[k]);
                    chars = out.concat().chars().collect();
                }
            }
        }
    }
    chars.into_iter().collect()
}

/// A parser's refusal: exit code 2, with a line and column inside the text (line 1 past its end
/// at most, where YAML reports an end of input). `what` names the case for the message.
fn refused_with_a_position(e: &Error, text: &str, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.exit_code(), 2, "{}: {}", what, e);
    if let Error::Definition { line, column, .. } = e {
        let lines = text.lines().count().max(1);
        prop_assert!(
            (1..=lines + 1).contains(line) && *column >= 1,
            "{}: the position {}:{} is not in the text ({} lines): {}",
            what,
            line,
            column,
            lines,
            e
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn an_edited_scenario_parses_or_is_refused_with_a_position(edits in prop::collection::vec(edit(), 1..4)) {
        let text = edited(SCENARIO, &edits);
        if let Err(e) = crate::scenario::parse(Path::new("s.yaml"), &text) {
            refused_with_a_position(&e, &text, "scenario")?;
        }
    }

    #[test]
    fn any_text_as_a_scenario_parses_or_is_refused_with_a_position(text in "\\PC{0,200}") {
        if let Err(e) = crate::scenario::parse(Path::new("s.yaml"), &text) {
            refused_with_a_position(&e, &text, "scenario")?;
        }
    }

    #[test]
    fn an_edited_definition_parses_or_is_refused_with_a_position(edits in prop::collection::vec(edit(), 1..4)) {
        let text = edited(DEFINITION, &edits);
        if let Err(e) = crate::lab::definition::Definition::parse(Path::new("compose/patroni.yaml"), &text) {
            refused_with_a_position(&e, &text, "definition")?;
        }
    }

    #[test]
    fn any_text_as_a_history_reads_or_is_refused_at_one_of_its_lines(
        lines in prop::collection::vec(
            prop_oneof![
                Just("{:index 0, :type :invoke, :f :read, :value [\"k\" nil], :process 0, :time 1}".to_string()),
                Just("{:index 1, :type :ok, :f :read, :value [\"k\" 0], :process 0, :time 2}".to_string()),
                Just("{:type :ok, :f :cas, :value [\"k\" [0 1]], :process 0, :time 3}".to_string()),
                Just("; perseus: history cut at its cap".to_string()),
                "\\PC{0,60}",
                "[{}\\[\\]:\"\\\\a-z0-9 ]{0,40}",
            ],
            0..12,
        )
    ) {
        let text = lines.join("\n");
        if let Err((line, why)) = crate::history::read_text(&text) {
            let count = text.lines().count().max(1);
            prop_assert!((1..=count + 1).contains(&line), "line {} of {}: {}", line, count, why);
            prop_assert!(!why.is_empty());
        }
    }
}
