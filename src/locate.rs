//! Source positions of values in a YAML document, looked up by path: the one locator for every
//! YAML file Perseus reads (scenarios, lab definitions).
//!
//! `serde_yaml` reports `line`/`column` for syntax and type errors, but checks that run after
//! deserialization (a step that targets an unknown step, a window that ends before it starts, ...) only
//! have the value and the path it came from. [`locate`] re-reads the text with an event parser
//! (`saphyr-parser`) and returns the position of the node at that path, in the same convention as
//! `serde_yaml::Location`: both line and column 1-based, the column counted in characters.
//!
//! ```text
//! let (line, col) = locate(text, &path("steps[2].target")).unwrap_or((1, 1));
//! ```

use std::collections::HashMap;

use crate::error::Error;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle};

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// The value of the mapping entry whose key is this scalar.
    Key(String),
    /// The item of a sequence at this 0-based index.
    Index(usize),
}

/// 1-based (line, column) of the node at `path` in the YAML `text` (for a mapping entry: the position of
/// its VALUE; if the value is absent/null-implicit, the key's position), or None when the path does not exist
/// or the text does not parse. An empty path is the document root.
///
/// Only the first document of a multi-document stream is read (and must parse); later documents are
/// ignored. Keys match when they are scalars whose text equals the segment (`1` matches `Key("1")`);
/// non-scalar keys never match, and with duplicate keys the first entry wins. Aliases are followed, and a
/// path ending at an alias gives the position of the anchored node, as `serde_yaml` does. The column
/// counts characters, not bytes; a tag or anchor before a value is part of the value (`!!str x` is at `!`),
/// a block scalar is at its `|`/`>`, a block sequence at its first `-`, a block mapping at its first key.
/// These positions agree with `serde_yaml::Error::location()` for a type error at the same node, except for
/// an absent value (`target:`), which serde_yaml puts just past the `:` and this function at the key.
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let doc = Doc::parse(text)?;
    let mut node = doc.resolve(doc.root?);
    let pos = |id: usize| doc.position(text, id);
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        node = match (&doc.nodes[node].kind, seg) {
            (Kind::Map(entries), Seg::Key(want)) => {
                let entry = entries
                    .iter()
                    .find(|e| e.key.as_deref() == Some(want.as_str()))?;
                if last && doc.nodes[entry.value].implicit_null() {
                    return Some(pos(entry.key_node));
                }
                doc.resolve(entry.value)
            }
            (Kind::Seq(items), Seg::Index(at)) => doc.resolve(*items.get(*at)?),
            _ => return None,
        };
    }
    Some(pos(node))
}

/// Convenience: parse a path written like `steps[2].target` or `expect[0].window.after` into segments.
///
/// `.` separates keys and `[n]` is a sequence index (`[0].a` and `a[1][2]` work too). Brackets whose
/// content is not a number give a key, so `a[x.y]` is `[Key("a"), Key("x.y")]` for keys that contain
/// dots; empty keys (`a..b`) are skipped, and an unclosed `[` is kept as part of the key text.
pub fn path(s: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    let mut key = String::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match c {
            '.' => flush(&mut key, &mut segs),
            '[' => match rest.find(']') {
                Some(end) => {
                    flush(&mut key, &mut segs);
                    let inner = &rest[..end];
                    segs.push(match inner.parse::<usize>() {
                        Ok(i) => Seg::Index(i),
                        Err(_) => Seg::Key(inner.to_string()),
                    });
                    rest = &rest[end + 1..];
                }
                None => key.push(c),
            },
            _ => key.push(c),
        }
    }
    flush(&mut key, &mut segs);
    segs
}

fn flush(key: &mut String, segs: &mut Vec<Seg>) {
    if !key.is_empty() {
        segs.push(Seg::Key(std::mem::take(key)));
    }
}

/// Where to place an error the YAML parser or a check could not place (line 0): at the second
/// document's start when the text holds several (`---` or `...` at a line's start after
/// content), else at the top of the file, line 1 column 1, the whole file being what is wrong.
/// A placed position is returned as it is.
pub fn placed(text: &str, line: usize, column: usize) -> (usize, usize) {
    if line > 0 {
        return (line, column.max(1));
    }
    let mut content = false;
    for (i, l) in text.lines().enumerate() {
        let marker = l.starts_with("---") || l.starts_with("...");
        if marker && content {
            return (i + 1, 1);
        }
        let body = l.trim();
        if !marker && !body.is_empty() && !body.starts_with('#') {
            content = true;
        }
    }
    (1, 1)
}

/// [`placed`] applied to a parse error of `text`: an [`Error::Definition`] at line 0 gets a
/// position; any other error is returned as it is.
pub fn place(e: Error, text: &str) -> Error {
    match e {
        Error::Definition {
            file,
            line,
            column,
            message,
        } => {
            let (line, column) = placed(text, line, column);
            Error::Definition {
                file,
                line,
                column,
                message,
            }
        }
        other => other,
    }
}

/// Move a position forward from the start of a mapping to the value the message quotes first
/// (`unknown fault 'kil'`): its first occurrence as a whole token at or after `(line, column)`.
/// serde_yaml places an error that our own value checks raise (faults, targets, durations) at
/// the start of the enclosing mapping; the message quotes the value, so this moves to it.
pub fn refine(text: &str, line: usize, column: usize, message: &str) -> (usize, usize) {
    let quoted = message
        .split('\'')
        .nth(1)
        .filter(|v| !v.is_empty() && !v.contains('\n'));
    let (Some(value), true) = (quoted, line > 0) else {
        return (line, column);
    };
    // Byte offset of (line, column); columns count characters.
    let Some(line_start) = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .try_fold(0usize, |a, l| Some(a + l))
    else {
        return (line, column);
    };
    let rest_of_line = &text[line_start..];
    let from = line_start
        + rest_of_line
            .char_indices()
            .nth(column.saturating_sub(1))
            .map(|(i, _)| i)
            .unwrap_or(0);
    let boundary = |c: Option<char>| {
        c.is_none_or(|c| {
            c.is_whitespace() || matches!(c, '[' | ']' | '{' | '}' | ',' | ':' | '"' | '\'' | '#')
        })
    };
    let mut search = from;
    while let Some(pos) = text[search..].find(value) {
        let at = search + pos;
        let before = text[..at].chars().next_back();
        let after = text[at + value.len()..].chars().next();
        if boundary(before) && boundary(after) {
            let l = text[..at].matches('\n').count() + 1;
            let c = text[..at].rsplit('\n').next().unwrap_or("").chars().count() + 1;
            return (l, c);
        }
        search = at + value.len();
    }
    (line, column)
}

/// The position of the node at `path`, or of its nearest ancestor that the text holds (a value a
/// merge key (`<<: *anchor`) brought in is not in the text at its own path; its mapping is), or
/// None when not even the root parses.
pub fn locate_nearest(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    (0..=path.len())
        .rev()
        .find_map(|n| locate(text, &path[..n]))
}

/// 1-based (line, column) of the first mapping key named `key`, anywhere in the first document,
/// in document order: for errors that name a key but not where it is (serde's ``unknown field
/// `x` `` once merge keys have been applied). None when there is none or the text does not parse.
pub fn first_key(text: &str, key: &str) -> Option<(usize, usize)> {
    let doc = Doc::parse(text)?;
    let id = doc.first_key(doc.root?, key)?;
    Some(doc.position(text, id))
}

/// The first document as a tree of nodes (in an arena), each with where it starts.
struct Doc {
    nodes: Vec<Node>,
    root: Option<usize>,
}

struct Node {
    /// Where the parser puts the node.
    start: Marker,
    /// Set when that is not where the node begins (see [`Doc::position`]).
    rescan: Option<Rescan>,
    kind: Kind,
}

/// Where to look for the real start of a node whose parser marker is off, and what starts it.
#[derive(Clone, Copy)]
struct Rescan {
    /// The end of the event before the node's: only separators, comments and space lie between.
    from: Marker,
    /// A block scalar (`|`, `>`, after `-` when an item) rather than an indentless sequence (`-`).
    block_scalar: bool,
}

enum Kind {
    /// A scalar; `implicit` when it is the empty plain scalar of an absent value (`key:`).
    Scalar {
        value: String,
        implicit: bool,
    },
    /// An alias, already resolved to the node its anchor names (None: unknown anchor).
    Alias(Option<usize>),
    Seq(Vec<usize>),
    Map(Vec<Entry>),
}

struct Entry {
    /// The key's text when the key is a scalar (or an alias of one).
    key: Option<String>,
    key_node: usize,
    value: usize,
}

/// A container still being read, and for a mapping the key read but not yet paired with a value.
struct Open {
    node: usize,
    pending_key: Option<usize>,
}

impl Node {
    fn implicit_null(&self) -> bool {
        matches!(self.kind, Kind::Scalar { implicit: true, .. })
    }
}

impl Doc {
    /// Reads the events of the first document; None on a parse error or when there is no document.
    fn parse(text: &str) -> Option<Doc> {
        let mut doc = Doc {
            nodes: Vec::new(),
            root: None,
        };
        let mut anchors: HashMap<usize, usize> = HashMap::new();
        let mut stack: Vec<Open> = Vec::new();
        let mut in_document = false;
        let mut prev_end = Marker::default();
        for event in Parser::new_from_str(text) {
            let (event, span) = event.ok()?;
            let start = span.start;
            let from = std::mem::replace(&mut prev_end, span.end);
            match event {
                Event::DocumentStart(_) => in_document = true,
                Event::DocumentEnd | Event::StreamEnd => break,
                Event::Scalar(value, style, anchor, _) => {
                    let implicit =
                        style == ScalarStyle::Plain && value.is_empty() && span.is_empty();
                    let kind = Kind::Scalar {
                        value: value.into_owned(),
                        implicit,
                    };
                    // The marker of a block scalar is its first content line, not its `|`/`>`.
                    let rescan = matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
                        .then_some(Rescan {
                            from,
                            block_scalar: true,
                        });
                    let id = doc.push(start, rescan, kind, anchor, &mut anchors);
                    doc.attach(id, &mut stack);
                }
                Event::Alias(anchor) => {
                    let kind = Kind::Alias(anchors.get(&anchor).copied());
                    let id = doc.push(start, None, kind, 0, &mut anchors);
                    doc.attach(id, &mut stack);
                }
                Event::SequenceStart(anchor, _) => {
                    // The marker of an indentless block sequence (`key:\n- item`) is past its first `-`.
                    let in_map = stack
                        .last()
                        .is_some_and(|open| matches!(doc.nodes[open.node].kind, Kind::Map(_)));
                    let rescan = (span.is_empty() && in_map).then_some(Rescan {
                        from,
                        block_scalar: false,
                    });
                    let node = doc.push(start, rescan, Kind::Seq(Vec::new()), anchor, &mut anchors);
                    stack.push(Open {
                        node,
                        pending_key: None,
                    });
                }
                Event::MappingStart(anchor, _) => {
                    let node = doc.push(start, None, Kind::Map(Vec::new()), anchor, &mut anchors);
                    stack.push(Open {
                        node,
                        pending_key: None,
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let open = stack.pop()?;
                    doc.attach(open.node, &mut stack);
                }
                Event::StreamStart | Event::Nothing => {}
            }
        }
        (in_document && stack.is_empty()).then_some(doc)
    }

    fn push(
        &mut self,
        start: Marker,
        rescan: Option<Rescan>,
        kind: Kind,
        anchor: usize,
        anchors: &mut HashMap<usize, usize>,
    ) -> usize {
        let id = self.nodes.len();
        self.nodes.push(Node {
            start,
            rescan,
            kind,
        });
        if anchor != 0 {
            anchors.insert(anchor, id);
        }
        id
    }

    /// Adds a complete node to the innermost open container (as an item, a key, or a key's value), or
    /// makes it the root.
    fn attach(&mut self, id: usize, stack: &mut [Open]) {
        let Some(open) = stack.last_mut() else {
            self.root.get_or_insert(id);
            return;
        };
        let key_text = match open.pending_key {
            Some(key_node) => match &self.nodes[self.resolve(key_node)].kind {
                Kind::Scalar { value, .. } => Some(value.clone()),
                _ => None,
            },
            None => None,
        };
        match &mut self.nodes[open.node].kind {
            Kind::Seq(items) => items.push(id),
            Kind::Map(entries) => match open.pending_key.take() {
                None => open.pending_key = Some(id),
                Some(key_node) => entries.push(Entry {
                    key: key_text,
                    key_node,
                    value: id,
                }),
            },
            Kind::Scalar { .. } | Kind::Alias(_) => {}
        }
    }

    /// The 1-based position of a node: its parser marker, or where it really begins if that is off.
    fn position(&self, text: &str, id: usize) -> (usize, usize) {
        let node = &self.nodes[id];
        node.rescan
            .and_then(|at| rescan(text, at))
            .unwrap_or_else(|| one_based(node.start))
    }

    /// The first key named `key` at or under `id`, in document order (a key before its value);
    /// aliases are not followed.
    fn first_key(&self, id: usize, key: &str) -> Option<usize> {
        match &self.nodes[id].kind {
            Kind::Map(entries) => entries.iter().find_map(|e| {
                if e.key.as_deref() == Some(key) {
                    Some(e.key_node)
                } else {
                    self.first_key(e.value, key)
                }
            }),
            Kind::Seq(items) => items.iter().find_map(|&i| self.first_key(i, key)),
            Kind::Scalar { .. } | Kind::Alias(_) => None,
        }
    }

    /// Follows aliases to the anchored node (bounded, though an alias never names another alias).
    fn resolve(&self, mut id: usize) -> usize {
        for _ in 0..self.nodes.len() {
            match self.nodes[id].kind {
                Kind::Alias(Some(target)) => id = target,
                _ => break,
            }
        }
        id
    }
}

/// saphyr markers: line 1-based, column 0-based (in characters); serde_yaml's are both 1-based.
fn one_based(mark: Marker) -> (usize, usize) {
    (mark.line(), mark.col() + 1)
}

/// The 1-based position of the first character from `from` (a marker into `text`) that is not space, a
/// line break, a comment, or one of the indicators `:` and `?` (and `-`, for a block scalar): the start
/// of the node that follows, when it is one of `!tag`, `&anchor`, or `|`/`>` (block scalar) or `-`
/// (sequence). None if something else comes first.
fn rescan(text: &str, at: Rescan) -> Option<(usize, usize)> {
    let (mut line, mut col) = (at.from.line(), at.from.col());
    let mut chars = text.chars().skip(at.from.index()).peekable();
    let mut comment = false;
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                (line, col, comment) = (line + 1, 0, false);
                continue;
            }
            _ if comment => {}
            '#' => comment = true,
            ' ' | '\t' | ':' | '?' => {}
            '-' if at.block_scalar => {}
            '|' | '>' if at.block_scalar => return Some((line, col + 1)),
            '-' | '!' | '&' => return Some((line, col + 1)),
            _ => return None,
        }
        col += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_ancestor_stands_in_for_a_merged_value_and_keys_are_found_in_document_order() {
        let text =
            "x: &x\n  volumes: [a]\nservices:\n  n1:\n    <<: *x\n    image: i\n  n2:\n    v: 1\n";
        // services.n1.volumes comes from the merge key: not in the text at its path.
        assert_eq!(locate(text, &path("services.n1.volumes[0]")), None);
        assert_eq!(
            locate_nearest(text, &path("services.n1.volumes[0]")),
            locate(text, &path("services.n1"))
        );
        assert_eq!(locate_nearest(text, &path("services.n1")), Some((5, 5)));
        assert_eq!(locate_nearest("a: [", &path("a")), None);
        // The first `v` key in document order is n2's, though `volumes` starts with a `v` too.
        assert_eq!(first_key(text, "v"), Some((8, 5)));
        assert_eq!(first_key(text, "volumes"), Some((2, 3)));
        assert_eq!(first_key(text, "image"), Some((6, 5)));
        assert_eq!(first_key(text, "nope"), None);
        // A key inside an earlier value comes before a later sibling's.
        assert_eq!(first_key("a:\n  k: 1\nk: 2\n", "k"), Some((2, 3)));
    }

    fn at(text: &str, p: &str) -> Option<(usize, usize)> {
        locate(text, &path(p))
    }

    const STEPS: &str = "\
name: failover
steps:
  - at: 10s
    fault: kill
    target: leader
  - at: 20s
    fault: restart
    target: crash
expect:
  - window: {after: crash, at-most: 5s}
    nodes: [n1, n2]
";

    #[test]
    fn path_parses_keys_and_indices() {
        use Seg::{Index, Key};
        let k = |s: &str| Key(s.to_string());
        assert_eq!(
            path("steps[2].target"),
            vec![k("steps"), Index(2), k("target")]
        );
        assert_eq!(
            path("expect[0].window.after"),
            vec![k("expect"), Index(0), k("window"), k("after")]
        );
        assert_eq!(
            path("[0][1].at-most"),
            vec![Index(0), Index(1), k("at-most")]
        );
        assert_eq!(path("a[x.y]..b"), vec![k("a"), k("x.y"), k("b")]);
        assert_eq!(path("a[1"), vec![k("a[1")]);
        assert_eq!(path(""), vec![]);
    }

    #[test]
    fn block_mapping_values() {
        assert_eq!(at(STEPS, "name"), Some((1, 7)));
        assert_eq!(at(STEPS, ""), Some((1, 1)));
        // A block sequence starts at its first `-`.
        assert_eq!(at(STEPS, "steps"), Some((3, 3)));
    }

    #[test]
    fn sequence_of_mappings() {
        let text = "steps:\n  - at: 10s\n    fault: kill\n    target: leader\n";
        assert_eq!(at(text, "steps[0].at"), Some((2, 9)));
        assert_eq!(at(text, "steps[0].fault"), Some((3, 12)));
        assert_eq!(at(text, "steps[0].target"), Some((4, 13)));
        // A block mapping starts at its first key.
        assert_eq!(at(text, "steps[0]"), Some((2, 5)));
        assert_eq!(at(STEPS, "steps[1].target"), Some((8, 13)));
    }

    #[test]
    fn flow_styles() {
        assert_eq!(at(STEPS, "expect[0].window"), Some((10, 13)));
        assert_eq!(at(STEPS, "expect[0].window.after"), Some((10, 21)));
        assert_eq!(at(STEPS, "expect[0].window.at-most"), Some((10, 37)));
        assert_eq!(at(STEPS, "expect[0].nodes[1]"), Some((11, 17)));
        let text = "{steps: [{at: 1s, target: {after: x}}, [a, b]]}";
        assert_eq!(at(text, "steps[0].target.after"), Some((1, 35)));
        assert_eq!(at(text, "steps[1][1]"), Some((1, 44)));
    }

    #[test]
    fn nested_flow_mapping_inside_sequence_item() {
        let text = "expect:\n  - {window: {after: crash, at-most: 5s}, on: [n1]}\n";
        assert_eq!(at(text, "expect[0]"), Some((2, 5)));
        assert_eq!(at(text, "expect[0].window"), Some((2, 14)));
        assert_eq!(at(text, "expect[0].window.after"), Some((2, 22)));
        assert_eq!(at(text, "expect[0].window.at-most"), Some((2, 38)));
        assert_eq!(at(text, "expect[0].on[0]"), Some((2, 48)));
    }

    #[test]
    fn missing_paths_are_none() {
        assert_eq!(at(STEPS, "steps[0].nope"), None);
        assert_eq!(at(STEPS, "nope"), None);
        assert_eq!(at(STEPS, "name.deeper"), None);
        assert_eq!(at(STEPS, "name[0]"), None);
        // Wrong container kind for the segment.
        assert_eq!(at(STEPS, "steps.at"), None);
        assert_eq!(at(STEPS, "[0]"), None);
    }

    #[test]
    fn index_out_of_range_is_none() {
        assert_eq!(at(STEPS, "steps[2]"), None);
        assert_eq!(at(STEPS, "steps[2].target"), None);
        assert_eq!(at(STEPS, "expect[0].nodes[2]"), None);
        assert_eq!(at("a: []\n", "a[0]"), None);
    }

    #[test]
    fn quoted_values_and_keys() {
        let text = "a: \"double\"\n'b': 'single'\n\"c d\": |\n  block\n";
        assert_eq!(at(text, "a"), Some((1, 4)));
        assert_eq!(at(text, "b"), Some((2, 6)));
        assert_eq!(at(text, "c d"), Some((3, 8)));
    }

    #[test]
    fn comments_between_entries() {
        let text = "# scenario\nsteps: # the steps\n  # first\n  - at: 10s # soon\n\n    # why\n    target: leader\n# end\n";
        assert_eq!(at(text, "steps[0].at"), Some((4, 9)));
        assert_eq!(at(text, "steps[0].target"), Some((7, 13)));
    }

    #[test]
    fn absent_value_gives_the_key() {
        let text = "steps:\n  - at: 10s\n    target:\n    fault: ~\n";
        assert_eq!(at(text, "steps[0].target"), Some((3, 5)));
        // An explicit null is a value like any other.
        assert_eq!(at(text, "steps[0].fault"), Some((4, 12)));
        assert_eq!(at(text, "steps[0].target.x"), None);
    }

    #[test]
    fn block_scalars_and_indentless_sequences_start_at_their_indicator() {
        // The parser's own markers are the first content line, and past the first `-`.
        let text = "a: # c\n  |\n    x\nb: >-\n\n  y\nc:\n- 1\n- |\n  z\n";
        assert_eq!(at(text, "a"), Some((2, 3)));
        assert_eq!(at(text, "b"), Some((4, 4)));
        assert_eq!(at(text, "c"), Some((8, 1)));
        assert_eq!(at(text, "c[0]"), Some((8, 3)));
        assert_eq!(at(text, "c[1]"), Some((9, 3)));
    }

    #[test]
    fn first_document_only_and_parse_errors() {
        let text = "---\na: 1\n---\nb: 2\n";
        assert_eq!(at(text, "a"), Some((2, 4)));
        assert_eq!(at(text, "b"), None);
        assert_eq!(at("a: [1, 2\nb: 3\n", "a"), None);
        assert_eq!(at("a: 1\n b: 2\n", "a"), None);
        assert_eq!(at("", ""), None);
        assert_eq!(at("# only a comment\n", ""), None);
    }

    #[test]
    fn aliases_tags_and_non_scalar_keys() {
        let text = "base: &b {after: crash}\nw: *b\nt: !!str &x  v\n? [k]\n: 1\n1: one\n";
        // Like serde_yaml: an alias is located at the node its anchor names.
        assert_eq!(at(text, "w"), Some((1, 7)));
        assert_eq!(at(text, "w.after"), Some((1, 18)));
        assert_eq!(at(text, "t"), Some((3, 4)));
        assert_eq!(at(text, "[k]"), None);
        assert_eq!(at(text, "1"), Some((6, 4)));
    }

    #[test]
    fn columns_count_characters() {
        let text = "é: [ü, x]\r\nb: ok\r\n";
        assert_eq!(at(text, "é[1]"), Some((1, 8)));
        assert_eq!(at(text, "b"), Some((2, 4)));
    }

    /// serde_yaml's own position for a type error in a struct field (its `Location` is 1-based, and
    /// its `Display` says `at line L column C` with the same numbers).
    #[test]
    fn agrees_with_serde_yaml_on_a_struct_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Step {
            at: String,
            count: u32,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Scenario {
            steps: Vec<Step>,
        }
        let text = "# c\nsteps:\n  - at: 1s\n    count: 2\n  - {at: 2s,   count: abc}\n";
        let err = serde_yaml::from_str::<Scenario>(text).unwrap_err();
        let loc = err.location().expect("serde_yaml gives a location");
        assert_eq!((loc.line(), loc.column()), (5, 23));
        assert!(err.to_string().ends_with("at line 5 column 23"), "{err}");
        assert_eq!(at(text, "steps[1].count"), Some((loc.line(), loc.column())));
    }

    /// Where serde_yaml reports a type error for the value at `target`: deserializes the document
    /// following the path, and at its end asks for a value that rejects every YAML node.
    fn serde_yaml_position(text: &str, target: &[Seg]) -> (usize, usize) {
        use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
        use std::fmt;

        struct Walk<'a>(&'a [Seg]);
        struct Reject;

        impl<'de> Visitor<'de> for Reject {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("nothing")
            }
        }

        impl<'de> DeserializeSeed<'de> for Walk<'_> {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                match self.0.first() {
                    None => d.deserialize_any(Reject),
                    Some(Seg::Key(_)) => d.deserialize_map(self),
                    Some(Seg::Index(_)) => d.deserialize_seq(self),
                }
            }
        }

        impl<'de> Visitor<'de> for Walk<'_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a container for {:?}", self.0)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                let Some(Seg::Key(want)) = self.0.first() else {
                    unreachable!()
                };
                while let Some(key) = map.next_key::<serde_yaml::Value>()? {
                    if key.as_str() == Some(want.as_str()) {
                        map.next_value_seed(Walk(&self.0[1..]))?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                let Some(Seg::Index(want)) = self.0.first() else {
                    unreachable!()
                };
                for _ in 0..*want {
                    seq.next_element::<IgnoredAny>()?;
                }
                seq.next_element_seed(Walk(&self.0[1..]))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(())
            }
        }

        let de = serde_yaml::Deserializer::from_str(text);
        let err = Walk(target)
            .deserialize(de)
            .expect_err("the walk always fails");
        let loc = err.location().expect("serde_yaml gives a location");
        (loc.line(), loc.column())
    }

    #[test]
    fn agrees_with_serde_yaml_everywhere() {
        let docs = [
            STEPS,
            "# c\n\n  a:   \"abc\"\n",
            "a:\n  k: v\n",
            "a:\n- 1\n- [2, {x: 3}]\n",
            "---\nroot: {x: [1, 2, {y: z}]}\n",
            "base: &b {after: crash}\nw: *b\nt: !!str &x  v\n",
            "é: [ü, x]\r\nb: ok\r\n",
            "a: |\n  block\nb: >-\n\n  folded\nc: 'q'\nd: !!str |+ # c\n  x\n\ne: &e >\n  y\n",
            "- |\n  a\n- k: v\n- |\n  b\n- - x\n  - |\n    c\n-   - y\n",
            "--- |\n  root block\n",
            "a: # c\n  |\n    x\nb:\n- 1\n- - 2\nc: &s\n  - 3\nd: !!seq\n- 4\ne:\n  # c\n- 5\nf:\n-\n  z: 1\n",
            "a: &x\n  k: v\nb: !!map\n  k: v\nc:\n- k: v\n  l: w\n- ? x\n  : y\n",
            "a:\r\n- |\r\n  x\r\n- 1\r\nb: ok\r\n",
            "\"k: 1\": |\n  v\n'q': -1\n",
        ];
        let mut wrong = Vec::new();
        for text in docs {
            let mut paths = vec![Vec::new()];
            let mut i = 0;
            while i < paths.len() {
                let p: Vec<Seg> = paths[i].clone();
                i += 1;
                for next in children(text, &p) {
                    let mut q = p.clone();
                    q.push(next);
                    paths.push(q);
                }
            }
            assert!(paths.len() >= 2 || !text.contains(':'), "{text:?}");
            for p in &paths {
                let ours = locate(text, p);
                let theirs = serde_yaml_position(text, p);
                if ours != Some(theirs) {
                    wrong.push(format!(
                        "{text:?} at {p:?}: {ours:?}, serde_yaml {theirs:?}"
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// The segments one level below `p`, from serde_yaml's own view of the document.
    fn children(text: &str, p: &[Seg]) -> Vec<Seg> {
        let mut v: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
        for seg in p {
            v = match seg {
                Seg::Key(k) => v.get(k.as_str()).unwrap().clone(),
                Seg::Index(i) => v.get(*i).unwrap().clone(),
            };
        }
        match v {
            serde_yaml::Value::Mapping(m) => m
                .keys()
                .filter_map(|k| k.as_str().map(|s| Seg::Key(s.to_string())))
                .collect(),
            serde_yaml::Value::Sequence(s) => (0..s.len()).map(Seg::Index).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn an_unplaced_error_lands_on_the_second_document_or_the_top() {
        assert_eq!(super::placed("a: 1\n---\nb: 2\n", 0, 0), (2, 1));
        assert_eq!(super::placed("---\na: 1\n...\n", 0, 0), (3, 1));
        assert_eq!(super::placed("# c\n---\na: 1\n", 0, 0), (1, 1));
        assert_eq!(super::placed("a: [\n", 0, 0), (1, 1));
        assert_eq!(super::placed("a: 1\n", 4, 0), (4, 1));
        assert_eq!(super::placed("a: 1\n", 4, 7), (4, 7));
    }
}
