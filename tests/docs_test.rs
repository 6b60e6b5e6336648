//! The documentation a newcomer reads (issue 30): README.md, BENCHMARKS.md and every page under
//! docs/. Every relative link and image names a file that exists, and every `#anchor` a heading
//! of its file (GitHub's slugs); the README stays short and opens with its two commands, which CI
//! relies on. No Docker, no network: the files are read from the checkout.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// The checkout.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, BENCHMARKS.md and every `.md` under docs/, in a stable order.
fn documents() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md"), root().join("BENCHMARKS.md")];
    let mut pages = Vec::new();
    markdown_under(&root().join("docs"), &mut pages);
    pages.sort();
    out.extend(pages);
    out
}

fn markdown_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            markdown_under(&path, out);
        } else if path.extension().is_some_and(|x| x == "md") {
            out.push(path);
        }
    }
}

/// What a link may point at.
enum Target {
    /// A Markdown file, with its text (its headings are the anchors it has).
    Markdown(String),
    /// Any other file, or a folder.
    Other,
}

/// The files on disk, as the checker sees them.
fn on_disk(path: &Path) -> Option<Target> {
    if path.is_file() && path.extension().is_some_and(|x| x == "md") {
        Some(Target::Markdown(std::fs::read_to_string(path).ok()?))
    } else if path.exists() {
        Some(Target::Other)
    } else {
        None
    }
}

/// The lines of `text` outside fenced code blocks (``` or ~~~), with their 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<(char, usize)> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let marker = ['`', '~']
            .into_iter()
            .find(|&c| t.starts_with(&format!("{c}{c}{c}")));
        if let Some(c) = marker {
            let run = t.chars().take_while(|&x| x == c).count();
            match fence {
                None => {
                    fence = Some((c, run));
                    continue;
                }
                Some((open, len)) if open == c && run >= len && t[run..].trim().is_empty() => {
                    fence = None;
                    continue;
                }
                Some(_) => {}
            }
        }
        if fence.is_none() {
            out.push((i + 1, line));
        }
    }
    out
}

/// GitHub's anchor for a heading: lowercase; letters, digits, `-` and `_` kept, spaces made `-`,
/// everything else dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown text: one per ATX heading outside code blocks, a repeated one
/// numbered `-1`, `-2`, ... as GitHub numbers them.
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        let rest = &line[hashes..];
        if !(1..=6).contains(&hashes) || !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
            continue;
        }
        // A closing run of #s is not part of the heading.
        let mut title = rest.trim();
        let unclosed = title.trim_end_matches('#');
        if unclosed.is_empty() || unclosed.ends_with([' ', '\t']) {
            title = unclosed.trim();
        }
        let base = slug(title);
        let n = seen.entry(base.clone()).or_insert(0);
        out.push(if *n == 0 { base } else { format!("{base}-{n}") });
        *n += 1;
    }
    out
}

/// One link of a document: the line it is on and its target as written.
#[derive(Debug, PartialEq, Eq)]
struct Link {
    line: usize,
    target: String,
}

/// Every `](target)` of a Markdown text (links and images) outside fenced code blocks and inline
/// code spans, in order.
fn links(text: &str) -> Vec<Link> {
    // Paragraphs (runs of non-blank prose lines), since a code span may go on over a line break.
    let mut paragraphs: Vec<Vec<(usize, &str)>> = vec![Vec::new()];
    let mut last = 0;
    for (n, line) in prose_lines(text) {
        if line.trim().is_empty() || n != last + 1 {
            paragraphs.push(Vec::new());
        }
        if !line.trim().is_empty() {
            paragraphs.last_mut().unwrap().push((n, line));
        }
        last = n;
    }
    let mut out = Vec::new();
    for paragraph in paragraphs.iter().filter(|p| !p.is_empty()) {
        // The paragraph as (char, line) pairs, lines joined by '\n'.
        let chars: Vec<(char, usize)> = paragraph
            .iter()
            .flat_map(|&(n, l)| l.chars().chain(['\n']).map(move |c| (c, n)))
            .collect();
        let run_at = |i: usize| chars[i..].iter().take_while(|(c, _)| *c == '`').count();
        let mut i = 0;
        while i < chars.len() {
            if chars[i].0 == '`' {
                // A code span runs to the next backtick run of the same length; without one, the
                // backticks are literal.
                let run = run_at(i);
                let mut j = i + run;
                let mut close = None;
                while j < chars.len() {
                    if chars[j].0 == '`' {
                        let r = run_at(j);
                        if r == run {
                            close = Some(j + r);
                            break;
                        }
                        j += r;
                    } else {
                        j += 1;
                    }
                }
                i = close.unwrap_or(i + run);
                continue;
            }
            if chars[i].0 == ']' && chars.get(i + 1).is_some_and(|c| c.0 == '(') {
                let line = chars[i].1;
                let mut j = i + 2;
                while j < chars.len() && chars[j].0 == ' ' {
                    j += 1;
                }
                let mut target = String::new();
                if chars.get(j).is_some_and(|c| c.0 == '<') {
                    j += 1;
                    while j < chars.len() && chars[j].0 != '>' {
                        target.push(chars[j].0);
                        j += 1;
                    }
                } else {
                    let mut depth = 0;
                    while j < chars.len() {
                        let c = chars[j].0;
                        if c.is_whitespace() || (c == ')' && depth == 0) {
                            break;
                        }
                        depth += (c == '(') as i32 - (c == ')') as i32;
                        target.push(c);
                        j += 1;
                    }
                }
                out.push(Link { line, target });
                i = j;
                continue;
            }
            i += 1;
        }
    }
    out
}

/// Whether a target leaves the repository (a URL with a scheme: `https:`, `mailto:`, ...).
fn is_external(target: &str) -> bool {
    match target.split_once(':') {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !scheme.contains('/')
        }
        None => false,
    }
}

/// `%20` and the like, decoded.
fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a/b/../c` as `a/c`, without asking the file system.
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// What is wrong with the relative links of `text`, the document at `file`: one line each,
/// `file:line: target: why`. `files` says what a path names.
fn broken_links(file: &Path, text: &str, files: &dyn Fn(&Path) -> Option<Target>) -> Vec<String> {
    let shown = file.strip_prefix(root()).unwrap_or(file).display();
    let dir = file.parent().unwrap_or(Path::new(""));
    let mut out = Vec::new();
    for Link { line, target } in links(text) {
        if target.is_empty() || is_external(&target) {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((p, a)) => (p, Some(a)),
            None => (target.as_str(), None),
        };
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let resolved = if path.is_empty() {
            file.to_path_buf()
        } else if let Some(from_root) = path.strip_prefix('/') {
            root().join(percent_decoded(from_root))
        } else {
            normalized(&dir.join(percent_decoded(path)))
        };
        let found = if path.is_empty() {
            Some(Target::Markdown(text.to_string()))
        } else {
            files(&resolved)
        };
        let Some(found) = found else {
            out.push(format!(
                "{shown}:{line}: {target}: no such file ({})",
                resolved.display()
            ));
            continue;
        };
        let Some(anchor) = anchor else { continue };
        match found {
            Target::Markdown(target_text) => {
                let known = anchors(&target_text);
                if !known.iter().any(|a| *a == percent_decoded(anchor)) {
                    out.push(format!(
                        "{shown}:{line}: {target}: no heading makes #{anchor} there (its anchors: {})",
                        known.join(", ")
                    ));
                }
            }
            Target::Other => {
                let line_anchor = anchor.strip_prefix('L').is_some_and(|r| {
                    r.split("-L")
                        .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
                });
                if !line_anchor {
                    out.push(format!(
                        "{shown}:{line}: {target}: #{anchor} on a file that is not Markdown"
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let docs = documents();
    assert!(
        docs.len() > 10,
        "README.md, BENCHMARKS.md and the pages under docs/: {docs:?}"
    );
    let mut checked = 0;
    let mut broken = Vec::new();
    for file in &docs {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        checked += links(&text)
            .iter()
            .filter(|l| !is_external(&l.target))
            .count();
        broken.extend(broken_links(file, &text, &on_disk));
    }
    assert!(
        checked > 50,
        "only {checked} relative links found: the extraction has gone wrong"
    );
    assert!(
        broken.is_empty(),
        "{} broken link(s):\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn the_docs_index_links_every_page() {
    let index_file = root().join("docs/README.md");
    let index = std::fs::read_to_string(&index_file).unwrap();
    let linked: Vec<PathBuf> = links(&index)
        .into_iter()
        .filter(|l| !is_external(&l.target))
        .map(|l| {
            let path = l.target.split('#').next().unwrap_or_default().to_string();
            normalized(&root().join("docs").join(path))
        })
        .collect();
    let mut pages = Vec::new();
    markdown_under(&root().join("docs"), &mut pages);
    let missing: Vec<String> = pages
        .iter()
        .filter(|p| **p != index_file && !linked.contains(p))
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "docs/README.md does not link: {}",
        missing.join(", ")
    );
}

#[test]
fn the_readme_is_under_300_lines() {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let n = text.lines().count();
    assert!(
        n < 300,
        "README.md has {n} lines: move the detail to a page under docs/ and link it"
    );
}

/// The README's two opening commands, as CI (`.ci/run`) and newcomers run them.
const OPENING_COMMANDS: [&str; 2] = [
    "scripts/setup && cargo run --release -- demo",
    "scripts/setup && cargo nextest run",
];

#[test]
fn the_readme_opens_with_its_two_commands() {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let first: Vec<&str> = text.lines().take(20).collect();
    let at = |command: &str| {
        first
            .iter()
            .position(|l| l.split_once(" #").map_or(*l, |(c, _)| c).trim() == command)
    };
    let found: Vec<Option<usize>> = OPENING_COMMANDS.iter().map(|c| at(c)).collect();
    for (command, line) in OPENING_COMMANDS.iter().zip(&found) {
        let Some(line) = line else {
            panic!("README.md's first 20 lines lack `{command}` on a line of its own");
        };
        // Shown as a command, in a fenced block: not a prose line.
        assert!(
            !prose_lines(&first.join("\n"))
                .iter()
                .any(|(n, _)| *n == line + 1),
            "README.md line {}: `{command}` is not in a code block",
            line + 1
        );
    }
    assert!(
        found[0] < found[1],
        "the main job comes first, then the tests"
    );
}

/// The checker on a document held in memory, so that it cannot pass for finding nothing.
#[test]
fn the_checker_catches_a_missing_file_and_a_missing_anchor() {
    let here = root().join("docs/page.md");
    let other = root().join("docs/other.md");
    let files: HashMap<PathBuf, String> = [
        (
            other.clone(),
            "# Other\n\n## The load loop\n\n```\n## Not a heading\n```\n".to_string(),
        ),
        (root().join("README.md"), "# Perseus\n".to_string()),
    ]
    .into_iter()
    .collect();
    let lookup = |p: &Path| files.get(p).map(|t| Target::Markdown(t.clone()));
    let page = "\
# Page

## What a verdict means

Good: [other](other.md), [its section](other.md#the-load-loop), [up](../README.md#perseus),
[here](#what-a-verdict-means), [the web](https://example.com/x.md), [mail](mailto:a@b.c),
`[in code](missing-in-code.md)` and ![an image](other.md).

Broken: [a file](missing.md) and [an anchor](other.md#no-such-section), and on the next line
[here too](#nowhere) and [a heading only in code](other.md#not-a-heading).

```
[in a fence](missing-in-fence.md)
```
";
    let broken = broken_links(&here, page, &lookup);
    assert_eq!(broken.len(), 4, "{broken:#?}");
    assert!(
        broken[0].starts_with("docs/page.md:9: missing.md: no such file"),
        "{}",
        broken[0]
    );
    assert!(
        broken[1].starts_with("docs/page.md:9: other.md#no-such-section: no heading makes"),
        "{}",
        broken[1]
    );
    assert!(
        broken[1].contains("its anchors: other, the-load-loop"),
        "{}",
        broken[1]
    );
    assert!(
        broken[2].starts_with("docs/page.md:10: #nowhere: no heading makes"),
        "{}",
        broken[2]
    );
    assert!(
        broken[3].starts_with("docs/page.md:10: other.md#not-a-heading: no heading makes"),
        "{}",
        broken[3]
    );
}

#[test]
fn anchors_are_github_slugs() {
    let text = "# Perseus\n## First session: what the demo prints\n### `perseus check`\n\
                ## Redis (control)\n## Crashed and isolated leader (the 2017 summary)\n\
                ## Load, again ##\n## Load, again\n#Not a heading\n";
    assert_eq!(
        anchors(text),
        [
            "perseus",
            "first-session-what-the-demo-prints",
            "perseus-check",
            "redis-control",
            "crashed-and-isolated-leader-the-2017-summary",
            "load-again",
            "load-again-1",
        ]
    );
}

#[test]
fn links_are_found_in_prose_only() {
    let text = "See [a](a.md) and ![b](img/b.svg \"title\"), `not [c](c.md)`,\n\
                a span `that goes\non` then [d](<d e.md>) and [e](f(1).md).\n\n    ```\n    [g](g.md)\n    ```\n";
    let found: Vec<(usize, String)> = links(text)
        .into_iter()
        .map(|l| (l.line, l.target))
        .collect();
    assert_eq!(
        found,
        [
            (1, "a.md".to_string()),
            (1, "img/b.svg".to_string()),
            (3, "d e.md".to_string()),
            (3, "f(1).md".to_string()),
        ]
    );
}

/// The top-level modules of `src/` and, for each, the others it imports outside its tests
/// (`crate::x` or, in the CLI, `perseus::x`; comment lines are not imports).
fn module_imports() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    use std::collections::{BTreeMap, BTreeSet};
    let src = root().join("src");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        modules.insert(name, path);
    }
    let mut imports = BTreeMap::new();
    for (name, path) in &modules {
        let mut files = Vec::new();
        let mut dirs = vec![path.clone()];
        while let Some(p) = dirs.pop() {
            if p.is_dir() {
                dirs.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else if p.extension().is_some_and(|e| e == "rs")
                && p.file_name().is_some_and(|n| n != "tests.rs")
            {
                // A `tests.rs` is a module's unit tests, as the part after `#[cfg(test)]` is.
                files.push(p);
            }
        }
        let mut uses = BTreeSet::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for prefix in ["crate::", "perseus::"] {
                    for (i, _) in line.match_indices(prefix) {
                        let rest = &line[i + prefix.len()..];
                        let m: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if m != *name && modules.contains_key(&m) {
                            uses.insert(m);
                        }
                    }
                }
            }
        }
        imports.insert(name.clone(), uses);
    }
    imports
}

/// The module picture in docs/architecture.md is the code's: its arrows are exactly the imports
/// between top-level modules, less those into the leaves it names, so it cannot go stale.
#[test]
fn the_module_picture_is_the_codes_imports() {
    use std::collections::BTreeSet;
    const LEAVES: [&str; 6] = ["error", "units", "http", "docker", "locate", "node"];
    let text = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let block = text
        .split("```mermaid\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("docs/architecture.md has a mermaid block");
    let mut drawn = BTreeSet::new();
    for line in block.lines().skip(1) {
        let Some((from, to)) = line.split_once("-->") else {
            continue;
        };
        for t in to.split('&') {
            drawn.insert((from.trim().to_string(), t.trim().to_string()));
        }
    }
    let mut code = BTreeSet::new();
    for (from, uses) in module_imports() {
        for to in uses {
            if !LEAVES.contains(&to.as_str()) {
                code.insert((from.clone(), to));
            }
        }
    }
    let missing: Vec<_> = code.difference(&drawn).collect();
    let extra: Vec<_> = drawn.difference(&code).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/architecture.md's picture differs from src/: not drawn {missing:?}, drawn but not imported {extra:?}"
    );
}

/// Every query of the shipped Grafana dashboard (docs/grafana/perseus-run.json) is PromQL that
/// Prometheus' own `promtool` accepts (as recording rules, Grafana's variables filled in); that
/// each names a metric Perseus serves is the unit test `every_metric_the_dashboard_queries_is_served`.
/// Needs `promtool` (Debian's `prometheus`); under `CI=true` its absence fails the test.
#[test]
fn the_grafana_dashboards_queries_are_promql() {
    if std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_err()
    {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "promtool is missing: scripts/setup installs Debian's prometheus"
        );
        eprintln!("skipped: no promtool (scripts/setup installs Debian's prometheus)");
        return;
    }
    fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", serde_json::Value::String(q)) => out.push(q.clone()),
                        _ => exprs(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(root().join("docs/grafana/perseus-run.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut queries = Vec::new();
    exprs(&dashboard, &mut queries);
    assert!(queries.len() >= 10, "{queries:?}");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, q) in queries.iter().enumerate() {
        let q = q
            .replace("$__rate_interval", "5s")
            .replace("$run", ".*")
            .replace("$system", ".*");
        rules.push_str(&format!(
            "      - record: perseus:dashboard:{i}\n        expr: {}\n",
            serde_json::to_string(&q).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yml");
    std::fs::write(&file, &rules).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool refuses the dashboard's queries:\n{}{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And it really read them all.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{} rules found", queries.len())),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
