//! `perseus check` as a user runs it on history files: the exit codes, the explanation of a
//! violation, the budget and its unknown verdict, a cut history, and a file that is no history.
//! No Docker: the histories are written here.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// Write `lines` as a history file in `dir`.
fn history(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// One entry on key `k`: `value` as EDN (`nil`, `3`, `[2 3]`).
fn op(p: i64, ty: &str, f: &str, k: &str, value: &str) -> String {
    format!("{{:type :{ty}, :f :{f}, :value [\"{k}\" {value}], :process {p}}}")
}

/// `perseus check` with `args`: exit code, stdout, stderr.
fn check(args: &[&str], file: &Path) -> (i32, String, String) {
    let out = perseus()
        .arg("check")
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn overlapping_operations_and_late_effects_are_linearizable_and_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    // The write of 1 is read before it completes; a cas of unknown outcome is read before its
    // :info line.
    let file = history(
        dir.path(),
        "h.edn",
        &[
            op(0, "invoke", "cas", "a", "[0 1]"),
            op(1, "invoke", "read", "a", "nil"),
            op(1, "ok", "read", "a", "1"),
            op(0, "ok", "cas", "a", "[0 1]"),
            op(2, "invoke", "cas", "b", "[0 1]"),
            op(3, "invoke", "read", "b", "nil"),
            op(3, "ok", "read", "b", "1"),
            op(2, "info", "cas", "b", "[0 1]"),
        ],
    );
    let (code, out, err) = check(&[], &file);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(
            "2 keys, 3 acknowledged operations: 2 linearizable, 0 not linearizable, 0 unknown"
        ),
        "{err}"
    );
}

#[test]
fn a_wipe_is_explained_with_the_operation_what_the_register_held_and_the_order_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for v in 0..5 {
        lines.push(op(0, "invoke", "read", "k", "nil"));
        lines.push(op(0, "ok", "read", "k", &v.to_string()));
        lines.push(op(0, "invoke", "cas", "k", &format!("[{v} {}]", v + 1)));
        lines.push(op(0, "ok", "cas", "k", &format!("[{v} {}]", v + 1)));
    }
    lines.push(op(0, "invoke", "read", "k", "nil"));
    lines.push(op(0, "ok", "read", "k", "0"));
    let file = history(dir.path(), "wipe.edn", &lines);
    let (code, out, err) = check(&[], &file);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.starts_with("k: not linearizable: 1 of 11 acknowledged operations no order explains\n"),
        "{out}"
    );
    assert!(
        out.contains("no order explains p0 read 0 (ok, index 21, lines 21-22): the register could hold only 5 then"),
        "{out}"
    );
    assert!(
        out.contains("the 10 acknowledged operations before it are linearizable"),
        "{out}"
    );
    assert!(
        out.contains("p0 cas [4 5] (ok, index 19, lines 19-20)"),
        "{out}"
    );
    // Knossos' model at nil accepts the same file only as Knossos would read it: the read of 0
    // is still wrong after the register held 5.
    let (code, _, _) = check(&["--initial", "nil"], &file);
    assert_eq!(code, 1);
}

#[test]
fn past_its_budget_a_key_is_unknown_and_the_check_fails() {
    let dir = tempfile::tempdir().unwrap();
    // Twenty writes that run until the end, and reads meanwhile: every subset of the writes is
    // a configuration.
    let mut lines = Vec::new();
    for p in 0..20 {
        lines.push(op(p, "invoke", "write", "k", &p.to_string()));
    }
    for r in 0..20 {
        lines.push(op(100 + r, "invoke", "read", "k", "nil"));
        lines.push(op(100 + r, "ok", "read", "k", &r.to_string()));
    }
    for p in 0..20 {
        lines.push(op(p, "ok", "write", "k", &p.to_string()));
    }
    let file = history(dir.path(), "hard.edn", &lines);
    let (code, out, err) = check(&["--max-states", "1000"], &file);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.starts_with("k: unknown: the budget (1000 configurations) ran out"),
        "{out}"
    );
    assert!(
        err.contains("0 linearizable, 0 not linearizable, 1 unknown"),
        "{err}"
    );
    // The time limit is a budget too.
    let (code, out, _) = check(&["--time-limit", "10ms"], &file);
    assert_eq!(code, 1);
    assert!(
        out.starts_with("k: unknown: the budget (the time limit) ran out"),
        "{out}"
    );
}

#[test]
fn a_cut_history_exits_1_naming_where_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let file = history(
        dir.path(),
        "cut.edn",
        &[
            "; perseus history of run r1".to_string(),
            op(0, "invoke", "read", "k", "nil"),
            op(0, "ok", "read", "k", "0"),
            "; perseus: history cut at its cap of 300 bytes at 0.004 s, before operation 2".into(),
        ],
    );
    let (code, out, err) = check(&[], &file);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("k: unknown: linearizable up to line 4"),
        "{out}"
    );
    assert!(
        err.contains(&format!(
            "{}:4: the history stops here, cut at its size cap",
            file.display()
        )),
        "{err}"
    );
}

#[test]
fn a_file_that_is_no_history_exits_2_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = history(
        dir.path(),
        "bad.edn",
        &[
            op(0, "invoke", "read", "k", "nil"),
            "{:type :ok, :f :add, :value [\"k\" 1], :process 0}".into(),
        ],
    );
    let (code, out, err) = check(&[], &file);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.trim().ends_with(&format!(
            "{}:2: not a history operation (:f :add is not a register operation (read, write, cas))",
            file.display()
        )),
        "{err}"
    );
    let (code, _, err) = check(&["--initial", "zero"], &file);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("'zero' is neither an integer nor nil"),
        "{err}"
    );
}
