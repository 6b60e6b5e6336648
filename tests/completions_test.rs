//! `perseus completions` and `perseus man` (issue 34), as a user meets them: the bash script
//! sourced into a real bash whose completion function is called the way bash calls it on a TAB
//! (COMP_WORDS, COMP_CWORD), the zsh and fish scripts parsed by those shells, and the man pages
//! written and rendered by groff. No Docker. The expected system names are read here from
//! compose/, not taken from the code under test.
//!
//! zsh, fish and groff are installed by scripts/setup; where one is missing a test says so and
//! skips that shell, except under CI=true, where a missing shell fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The checkout.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `perseus` binary under test.
fn perseus() -> &'static str {
    env!("CARGO_BIN_EXE_perseus")
}

/// The stems of `dir/compose/*.yaml`, sorted: the systems a home defines.
fn compose_stems(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir.join("compose"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// `perseus completions SHELL`'s stdout, checked to have succeeded.
fn script(shell: &str) -> String {
    let out = Command::new(perseus())
        .args(["completions", shell])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "perseus completions {shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Whether `program` runs here; under CI=true it must.
fn have(program: &str, version_flag: &str) -> bool {
    let found = Command::new(program)
        .arg(version_flag)
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{program} is missing under CI=true: scripts/setup installs it"
        );
        eprintln!("{program} is not installed: skipped (scripts/setup installs it)");
    }
    found
}

/// What bash's completion offers for `words` (the last one being completed, maybe ''), run in
/// `cwd` with `envs`: the bash script sourced, the function `complete -p perseus` names called as
/// bash calls it on a TAB, COMPREPLY one per line.
fn bash_complete(words: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("perseus.bash");
    std::fs::write(&file, script("bash")).unwrap();
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect();
    let program = format!(
        r#"source {file}
spec=$(complete -p perseus) || {{ echo "no completion registered for perseus" >&2; exit 3; }}
fn=$(printf '%s\n' "$spec" | sed -n 's/.*-F \([^ ]*\).*/\1/p')
[ -n "$fn" ] || {{ echo "no function in: $spec" >&2; exit 3; }}
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
COMP_TYPE=9
"$fn" perseus "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        file = file.display(),
        words = quoted.join(" "),
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .current_dir(cwd)
        .env_remove("PERSEUS_HOME")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn bash_completes_lab_up_to_the_system_names() {
    let expected = compose_stems(&root());
    assert!(expected.len() > 5, "compose/ lists {expected:?}");
    let mut offered = bash_complete(&["perseus", "lab", "up", ""], &root(), &[]);
    offered.sort();
    assert_eq!(offered, expected, "COMPREPLY for `perseus lab up `");

    // A prefix narrows it.
    let etcd: Vec<String> = expected
        .iter()
        .filter(|s| s.starts_with("etcd"))
        .cloned()
        .collect();
    let mut offered = bash_complete(&["perseus", "lab", "up", "etc"], &root(), &[]);
    offered.sort();
    assert_eq!(offered, etcd);
}

#[test]
fn bash_completes_the_systems_present_at_the_tab_not_at_build_time() {
    // Another home (PERSEUS_HOME), with a definition the build never saw.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join("compose")).unwrap();
    for name in ["alpha", "etcd", "zeta-new"] {
        std::fs::write(home.path().join(format!("compose/{name}.yaml")), "").unwrap();
    }
    let home_str = home.path().to_str().unwrap();
    let offered = bash_complete(
        &["perseus", "lab", "up", ""],
        home.path(),
        &[("PERSEUS_HOME", home_str)],
    );
    assert_eq!(offered, ["alpha", "etcd", "zeta-new"]);
}

#[test]
fn bash_completes_run_to_the_scenario_files() {
    let mut expected: Vec<String> = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .map(|n| format!("scenarios/{n}"))
        .collect();
    expected.sort();
    assert!(expected.len() > 5);
    let mut offered = bash_complete(&["perseus", "run", ""], &root(), &[]);
    offered.sort();
    assert_eq!(offered, expected, "COMPREPLY for `perseus run `");
    let offered = bash_complete(&["perseus", "run", "scenarios/etcd-kill-l"], &root(), &[]);
    assert_eq!(offered, ["scenarios/etcd-kill-leader.yaml"]);
}

#[test]
fn bash_completes_subcommands_and_fault_targets() {
    let offered = bash_complete(&["perseus", "lab", ""], &root(), &[]);
    for sub in ["images", "up", "status", "add-node", "down"] {
        assert!(offered.contains(&sub.to_string()), "{offered:?}");
    }
    // A target: the words every lab has (the nodes depend on the labs that are up).
    let offered = bash_complete(&["perseus", "fault", "kill", "etcd", ""], &root(), &[]);
    for target in ["leader", "follower", "random", "all"] {
        assert!(offered.contains(&target.to_string()), "{offered:?}");
    }
    assert!(
        offered.iter().any(|t| t.starts_with('n')),
        "no node: {offered:?}"
    );
    assert!(
        offered.iter().all(|o| !o.starts_with('-')),
        "options at an empty word: {offered:?}"
    );
    // Options come when asked for.
    let offered = bash_complete(&["perseus", "lab", "up", "--n"], &root(), &[]);
    assert_eq!(offered, ["--nodes"]);
}

#[test]
fn zsh_and_fish_scripts_parse() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, check) in [("zsh", ["-n"]), ("fish", ["--no-execute"])] {
        let text = script(shell);
        assert!(text.contains("perseus"), "{shell}: {text}");
        assert!(text.contains("PERSEUS_COMPLETE"), "{shell}: {text}");
        if !have(shell, "--version") {
            continue;
        }
        let file = dir.path().join(format!("perseus.{shell}"));
        std::fs::write(&file, &text).unwrap();
        let out = Command::new(shell).args(check).arg(&file).output().unwrap();
        assert!(
            out.status.success(),
            "{shell} rejects the script: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn an_unknown_shell_is_refused_in_one_line_with_exit_2() {
    let out = Command::new(perseus())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'tcsh'"), "{stderr}");
    assert!(stderr.contains("bash, zsh, fish"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// Every command path of `perseus --help`'s tree, as page names (`perseus-lab-up`), read from the
/// help output rather than from clap.
fn command_pages(words: &mut Vec<String>, out: &mut Vec<String>) {
    out.push(words.join("-"));
    let help = Command::new(perseus())
        .args(&words[1..])
        .arg("-h")
        .output()
        .unwrap();
    let text = String::from_utf8(help.stdout).unwrap();
    let Some(commands) = text.split("Commands:\n").nth(1) else {
        return;
    };
    for line in commands.lines() {
        if line.trim().is_empty() || !line.starts_with(' ') {
            break;
        }
        if line.starts_with("   ") {
            continue; // a description's next line
        }
        let name = line.split_whitespace().next().unwrap().to_string();
        if name == "help" {
            continue;
        }
        words.push(name);
        command_pages(words, out);
        words.pop();
    }
}

#[test]
fn man_writes_a_page_per_command_that_groff_renders() {
    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man1");
    let out = Command::new(perseus())
        .args(["man", "--dir"])
        .arg(&man)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "perseus man: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pages = Vec::new();
    command_pages(&mut vec!["perseus".to_string()], &mut pages);
    assert!(pages.len() > 20, "{pages:?}");
    for page in &pages {
        assert!(
            man.join(format!("{page}.1")).is_file(),
            "no page {page}.1 in {}",
            man.display()
        );
    }
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed.lines().count(), pages.len(), "{printed}");

    if !have("groff", "--version") {
        return;
    }
    let out = Command::new("groff")
        .args(["-man", "-Tutf8"])
        .arg(man.join("perseus-lab-up.1"))
        .env("GROFF_NO_SGR", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    // Overstrike (bold, underline) removed, as `col -b` does.
    let text: String = {
        let raw = String::from_utf8_lossy(&out.stdout);
        let mut s = String::new();
        for c in raw.chars() {
            if c == '\u{8}' {
                s.pop();
            } else {
                s.push(c);
            }
        }
        s
    };
    for want in [
        "perseus-lab-up",
        "SYNOPSIS",
        "OPTIONS",
        "--nodes",
        "--lazyfs",
        "SYSTEM[@VERSION]",
        "Start a cluster",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
}

#[test]
fn man_says_which_folder_it_cannot_make() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(perseus())
        .args(["man", "--dir"])
        .arg(file.path().join("man1"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("man1"), "{stderr}");
}
