//! `perseus completions SHELL` and `perseus man --dir DIR`: the shell completion scripts and the
//! man pages, both made from the clap types of [`super::Cli`].
//!
//! Completion is dynamic (clap_complete's `CompleteEnv`): the script `perseus completions bash`
//! prints is a small shell function that calls `perseus` back with `PERSEUS_COMPLETE=bash` and
//! the words typed so far, and [`complete_from_env`], the first thing `perseus` does, answers
//! with the candidates and exits. So what completes is what is there at the moment of the TAB,
//! never a list frozen when the script was made:
//!
//! - a system (`lab up`, `lab status`, `load`, `demo --system`, `table`, ...): the definitions in
//!   the home's `compose/` ([`Home::systems`]);
//! - a scenario file (`run`, `bisect`): the home's `scenarios/*.yaml` (as paths from the current
//!   folder), or any `.yaml` file and folder once the word names none of them;
//! - a fault's `[SYSTEM] TARGET` and a partition's groups: the systems, the
//!   nodes of the labs that are up (asked of Docker for at most [`DOCKER_WAIT`]; `n1`..`n3`,
//!   `lab up`'s default, when none is or Docker does not answer), `leader`, `follower`,
//!   `random`, `all` and the role leaders the definitions name (`pd-leader`); after a comma, the
//!   next node of a list (`n1,n2`).
//!
//! At an empty word, bash and zsh get the values alone when there are any ([`ValuesFirst`]);
//! the `--options` come once the word starts with `-`.
//!
//! The variable is `PERSEUS_COMPLETE`, not clap's default `COMPLETE`, so that a `COMPLETE` some
//! other tool leaves in the environment cannot turn a `perseus` run into a completion request.
//!
//! The man pages are clap_mangen's, one per command and subcommand (`perseus.1`,
//! `perseus-lab.1`, `perseus-lab-up.1`, ...). The command is called `man` because that is
//! what it makes and where its output goes (`man perseus-lab-up`); `--dir` is required since a
//! man folder is a choice (`~/.local/share/man/man1` needs no root and is on `man`'s path).

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, CommandFactory as _, ValueEnum};
use clap_complete::engine::{
    ArgValueCompleter, CompletionCandidate, PathCompleter, ValueCompleter,
};
use clap_complete::env::{self, EnvCompleter};
use clap_complete::CompleteEnv;
use perseus::lab::Home;

/// The variable that turns a `perseus` run into a completion request (its value: the shell).
const VAR: &str = "PERSEUS_COMPLETE";

/// The command the scripts complete.
const BIN: &str = "perseus";

/// How long a TAB may wait for Docker to list the nodes of the labs that are up.
const DOCKER_WAIT: Duration = Duration::from_millis(1500);

/// What `lab up` starts when not told otherwise: the nodes offered when no lab is up.
const DEFAULT_NODES: usize = 3;

/// The targets every lab has, besides its nodes.
const TARGET_WORDS: [&str; 4] = ["leader", "follower", "random", "all"];

#[derive(Debug, Args)]
pub(super) struct CompletionsArgs {
    /// The shell: bash, zsh or fish.
    #[arg(value_enum)]
    shell: Shell,
}

/// The shells `perseus completions` writes for.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub(super) struct ManArgs {
    /// The folder the pages go to (made when missing), e.g. ~/.local/share/man/man1.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
}

/// Answer a completion request and exit, when `PERSEUS_COMPLETE` names a shell; else return at
/// once. It must run before anything is written to stdout.
pub(super) fn complete_from_env() {
    static BASH: ValuesFirst<env::Bash> = ValuesFirst(env::Bash);
    static ZSH: ValuesFirst<env::Zsh> = ValuesFirst(env::Zsh);
    static FISH: ValuesFirst<env::Fish> = ValuesFirst(env::Fish);
    CompleteEnv::with_factory(command)
        .var(VAR)
        .shells(env::Shells(&[&BASH, &ZSH, &FISH]))
        .complete();
}

/// A shell's completer that leaves out the `--options` when the word being completed is empty
/// and there are values to offer: `perseus lab up <TAB>` lists the systems, `perseus lab up
/// -<TAB>` the options (clap_complete offers both at an empty word). The shell's candidates are
/// separated by `_CLAP_IFS` (bash, zsh) or newlines (fish, which never sends the empty word, so
/// it keeps both).
struct ValuesFirst<S>(S);

impl<S: EnvCompleter> EnvCompleter for ValuesFirst<S> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn is(&self, name: &str) -> bool {
        self.0.is(name)
    }

    fn write_registration(
        &self,
        var: &str,
        name: &str,
        bin: &str,
        completer: &str,
        buf: &mut dyn std::io::Write,
    ) -> Result<(), std::io::Error> {
        self.0.write_registration(var, name, bin, completer, buf)
    }

    fn write_complete(
        &self,
        cmd: &mut clap::Command,
        args: Vec<std::ffi::OsString>,
        current_dir: Option<&Path>,
        buf: &mut dyn std::io::Write,
    ) -> Result<(), std::io::Error> {
        let index: Option<usize> = std::env::var("_CLAP_COMPLETE_INDEX")
            .ok()
            .and_then(|i| i.parse().ok());
        let empty_word = index.is_some_and(|i| args.get(i).is_none_or(|w| w.is_empty()));
        let mut out = Vec::new();
        self.0.write_complete(cmd, args, current_dir, &mut out)?;
        if !empty_word {
            return buf.write_all(&out);
        }
        let sep = std::env::var("_CLAP_IFS").unwrap_or_else(|_| "\n".into());
        let text = String::from_utf8_lossy(&out);
        buf.write_all(values_first(&text, &sep).as_bytes())
    }
}

/// `text`'s candidates (separated by `sep`) less those that are options, unless only options
/// are there.
fn values_first(text: &str, sep: &str) -> String {
    let all: Vec<&str> = text.split(sep).filter(|c| !c.is_empty()).collect();
    let values: Vec<&str> = all
        .iter()
        .copied()
        .filter(|c| !c.starts_with('-'))
        .collect();
    if values.is_empty() {
        text.to_string()
    } else {
        values.join(sep)
    }
}

/// `perseus completions SHELL`: the script that registers the completion, on stdout.
pub(super) fn completions_command(args: CompletionsArgs) -> anyhow::Result<i32> {
    let shell: &dyn EnvCompleter = match args.shell {
        Shell::Bash => &env::Bash,
        Shell::Zsh => &env::Zsh,
        Shell::Fish => &env::Fish,
    };
    let mut script = Vec::new();
    shell.write_registration(VAR, BIN, BIN, &completer(), &mut script)?;
    std::io::stdout().write_all(&script)?;
    Ok(0)
}

/// The program the script calls back: `perseus` as it was called, made absolute when it was
/// called by a path (`target/release/perseus`), left to `PATH` when by its name alone (as
/// clap_complete's own registration does).
fn completer() -> String {
    let argv0 = PathBuf::from(std::env::args_os().next().unwrap_or_else(|| BIN.into()));
    let path = if argv0.components().count() > 1 && argv0.is_relative() {
        std::env::current_dir()
            .map(|d| d.join(&argv0))
            .unwrap_or(argv0)
    } else {
        argv0
    };
    path.to_string_lossy().into_owned()
}

/// `perseus man --dir DIR`: one page per command and subcommand into `DIR`; prints each file.
///
/// Errors: `DIR` cannot be made or written, naming it.
pub(super) fn man_command(args: ManArgs) -> anyhow::Result<i32> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot make the man folder {}: choose one you can write (~/.local/share/man/man1)",
            dir.display()
        )
    })?;
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    cmd.build();
    for page in man_pages(&cmd, dir)? {
        println!("{}", page.display());
    }
    Ok(0)
}

/// Write the page of `cmd` and of each of its visible subcommands, depth first; the files.
fn man_pages(cmd: &clap::Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let man = clap_mangen::Man::new(cmd.clone());
    let file = dir.join(man.get_filename());
    let mut text = Vec::new();
    man.render(&mut text)?;
    std::fs::write(&file, text)
        .with_context(|| format!("cannot write the man page {}", file.display()))?;
    let mut out = vec![file];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out.extend(man_pages(sub, dir)?);
    }
    Ok(out)
}

/// The command line with the dynamic completers attached (see the module docs for which
/// arguments get which).
pub(super) fn command() -> clap::Command {
    with_completers(super::Cli::command(), &[])
}

fn with_completers(cmd: clap::Command, path: &[&str]) -> clap::Command {
    let mut path = path.to_vec();
    let name = cmd.get_name().to_string();
    path.push(&name);
    let partition = path.ends_with(&["fault", "partition"]);
    let cmd = cmd.mut_args(|arg| {
        let id = arg.get_id().as_str();
        let names: Vec<&str> = arg
            .get_value_names()
            .unwrap_or_default()
            .iter()
            .map(|n| n.as_str())
            .collect();
        let completer = if (partition && id == "args") || names.starts_with(&["SYSTEM", "TARGET"]) {
            Some(ArgValueCompleter::new(targets))
        } else if id == "system" || id == "systems" {
            Some(ArgValueCompleter::new(systems))
        } else if id == "scenario" || id == "scenarios" {
            Some(ArgValueCompleter::new(scenario_files))
        } else {
            None
        };
        match completer {
            Some(c) => arg.add(c),
            None => arg,
        }
    });
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    subs.iter().fold(cmd, |cmd, sub| {
        cmd.mut_subcommand(sub, |s| with_completers(s, &path))
    })
}

/// The words of `words` that start with `current`, as candidates.
fn matching<'a>(
    words: impl IntoIterator<Item = &'a str>,
    current: &OsStr,
) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    words
        .into_iter()
        .filter(|w| w.starts_with(current.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

/// The home's systems (the definitions in `compose/`), none when there is no home.
fn home_systems() -> Vec<String> {
    Home::locate().map(|h| h.systems()).unwrap_or_default()
}

/// Candidates for a system argument.
fn systems(current: &OsStr) -> Vec<CompletionCandidate> {
    matching(home_systems().iter().map(String::as_str), current)
}

/// Candidates for a scenario file: the home's `scenarios/*.yaml` that start with the word (shown
/// from the current folder when they are under it); when none does, `.yaml` files and folders
/// from the word on, as a path.
fn scenario_files(current: &OsStr) -> Vec<CompletionCandidate> {
    let cwd = std::env::current_dir().ok();
    let mut files: Vec<String> = Home::locate()
        .ok()
        .and_then(|home| std::fs::read_dir(home.root().join("scenarios")).ok())
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_yaml(p))
                .map(|p| {
                    let shown = cwd
                        .as_deref()
                        .and_then(|c| p.strip_prefix(c).ok())
                        .map(Path::to_path_buf)
                        .unwrap_or(p);
                    shown.to_string_lossy().into_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let found = matching(files.iter().map(String::as_str), current);
    if !found.is_empty() {
        return found;
    }
    PathCompleter::any()
        .filter(|p| p.is_dir() || is_yaml(p))
        .complete(current)
}

fn is_yaml(p: &Path) -> bool {
    p.extension().is_some_and(|x| x == "yaml" || x == "yml")
}

/// Candidates for a fault's `[SYSTEM] TARGET` and a partition's words: the systems, the nodes,
/// the role leaders and the target words. Which value of the argument is being completed is not
/// asked: clap_complete 4.6 gives the first and the second value the same index, so a system
/// is offered after a system too.
fn targets(current: &OsStr) -> Vec<CompletionCandidate> {
    let systems = home_systems();
    target_words(
        &lab_nodes(),
        &role_leaders(&systems),
        &systems,
        &current.to_string_lossy(),
    )
    .into_iter()
    .map(CompletionCandidate::new)
    .collect()
}

/// The words a target may be, given the nodes and role leaders there are, the systems the word
/// may also be, and what was typed: after a comma (`n1,`), `typed` up to it followed by each
/// node not listed yet; else the systems, the nodes, the role leaders and the target words that
/// start with `typed`.
fn target_words(
    nodes: &[String],
    role_leaders: &[String],
    systems: &[String],
    typed: &str,
) -> Vec<String> {
    if let Some((listed, last)) = typed.rsplit_once(',') {
        let named: Vec<&str> = listed.split(',').collect();
        return nodes
            .iter()
            .filter(|n| !named.contains(&n.as_str()) && n.starts_with(last))
            .map(|n| format!("{listed},{n}"))
            .collect();
    }
    let mut out: Vec<String> = Vec::new();
    let words = systems
        .iter()
        .chain(nodes)
        .map(String::as_str)
        .chain(TARGET_WORDS)
        .chain(role_leaders.iter().map(String::as_str));
    for w in words {
        if w.starts_with(typed) && !out.iter().any(|o| o == w) {
            out.push(w.to_string());
        }
    }
    out
}

/// The role leaders (`pd-leader`) the definitions of `systems` name, besides `leader`.
fn role_leaders(systems: &[String]) -> Vec<String> {
    let Ok(home) = Home::locate() else {
        return Vec::new();
    };
    let mut out: Vec<String> = systems
        .iter()
        .filter_map(|s| home.definition(s, None).ok())
        .flat_map(|d| d.system.leader_targets())
        .filter(|t| !TARGET_WORDS.contains(&t.as_str()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The nodes of the labs that are up, sorted by number (`n1`, `n2`, ..., `n10`); `n1`..`n3` when
/// none is up or Docker did not answer within [`DOCKER_WAIT`].
fn lab_nodes() -> Vec<String> {
    let asked = async {
        let docker = perseus::docker::connect().await.ok()?;
        let containers = perseus::docker::lab_containers(&docker, None).await.ok()?;
        Some(
            containers
                .into_iter()
                .filter_map(|c| c.labels?.remove(perseus::docker::NODE_LABEL))
                .collect::<Vec<String>>(),
        )
    };
    let found = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()
        .and_then(|rt| {
            rt.block_on(async {
                tokio::time::timeout(DOCKER_WAIT, asked)
                    .await
                    .ok()
                    .flatten()
            })
        })
        .unwrap_or_default();
    nodes_or_default(found)
}

/// `found`, deduplicated and in node order; `n1`..`n3` when empty.
fn nodes_or_default(mut found: Vec<String>) -> Vec<String> {
    if found.is_empty() {
        found = (1..=DEFAULT_NODES).map(|i| format!("n{i}")).collect();
    }
    let number = |n: &String| n.trim_start_matches('n').parse::<u64>().unwrap_or(u64::MAX);
    found.sort_by(|a, b| number(a).cmp(&number(b)).then(a.cmp(b)));
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the completion engine offers for `words`, completing the last one.
    fn complete(words: &[&str]) -> Vec<String> {
        let mut cmd = command();
        cmd.build();
        let args: Vec<std::ffi::OsString> = words.iter().map(Into::into).collect();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        clap_complete::engine::complete(&mut cmd, args, words.len() - 1, Some(&dir))
            .unwrap()
            .into_iter()
            .map(|c| c.get_value().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_command_with_completers_is_valid() {
        command().debug_assert();
    }

    #[test]
    fn system_arguments_complete_to_the_definitions() {
        let home = Home::at(env!("CARGO_MANIFEST_DIR")).systems();
        // The engine offers the options at an empty word too; `ValuesFirst` drops them.
        let offered = complete(&["perseus", "lab", "up", ""]);
        assert_eq!(offered[..home.len()], home[..]);
        assert!(offered[home.len()..].iter().all(|o| o.starts_with('-')));
        assert_eq!(complete(&["perseus", "lab", "down", "etcd"]), {
            home.iter()
                .filter(|s| s.starts_with("etcd"))
                .cloned()
                .collect::<Vec<_>>()
        });
        assert_eq!(complete(&["perseus", "demo", "--system", ""]), home);
        assert_eq!(
            complete(&["perseus", "table", "etcd", "z"]),
            ["zookeeper", "zookeeper-no-sync"]
        );
    }

    #[test]
    fn target_words_offer_nodes_lists_and_systems_first() {
        let nodes: Vec<String> = ["n1", "n2", "n3"].map(String::from).into();
        let roles = vec!["pd-leader".to_string()];
        let systems = vec!["etcd".to_string(), "nats".to_string()];
        assert_eq!(
            target_words(&nodes, &roles, &systems, ""),
            [
                "etcd",
                "nats",
                "n1",
                "n2",
                "n3",
                "leader",
                "follower",
                "random",
                "all",
                "pd-leader"
            ]
        );
        assert_eq!(target_words(&nodes, &roles, &[], "n"), ["n1", "n2", "n3"]);
        assert_eq!(
            target_words(&nodes, &roles, &systems, "n1,"),
            ["n1,n2", "n1,n3"]
        );
        assert_eq!(
            target_words(&nodes, &roles, &systems, "n3,n1,"),
            ["n3,n1,n2"]
        );
        assert!(target_words(&nodes, &roles, &systems, "x").is_empty());
    }

    #[test]
    fn options_are_left_out_only_next_to_values() {
        let sep = "\u{b}";
        assert_eq!(
            values_first("etcd\u{b}--nodes\u{b}nats", sep),
            "etcd\u{b}nats"
        );
        assert_eq!(
            values_first("--nodes\u{b}--file", sep),
            "--nodes\u{b}--file"
        );
        assert_eq!(values_first("", sep), "");
        assert_eq!(values_first("up:Start\n--help:Print\n", "\n"), "up:Start");
    }

    #[test]
    fn nodes_sort_by_number_and_default_to_three() {
        assert_eq!(nodes_or_default(Vec::new()), ["n1", "n2", "n3"]);
        let found = ["n10", "n2", "n1", "n2"].map(String::from).into();
        assert_eq!(nodes_or_default(found), ["n1", "n2", "n10"]);
    }

    #[test]
    fn scenario_arguments_complete_to_the_scenario_files() {
        let offered = complete(&["perseus", "run", "scenarios/etcd-kill-"]);
        assert!(
            offered.contains(&"scenarios/etcd-kill-leader.yaml".to_string()),
            "{offered:?}"
        );
        assert!(offered
            .iter()
            .all(|f| f.starts_with("scenarios/etcd-kill-")));
    }
}
