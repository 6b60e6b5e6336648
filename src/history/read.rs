//! Reading a history back: every entry paired with its process's invocation, grouped by key.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::edn::{Edn, Reader};
use super::op::{Op, Type, TRUNCATED_MARK};
use crate::error::{Error, HistoryError, Result};

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// `:ok`: it took effect between its invocation and this completion.
    Ok,
    /// `:fail`: it did not take effect.
    Fail,
    /// `:info`: unknown; it may take effect at any time after its invocation, or never.
    Info,
    /// The history ends before it completed: as `:info`.
    Open,
}

/// One operation: its invocation and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// The process (Jepsen's `:process`) that made it.
    pub process: i64,
    /// What it did: a read's value is the one its completion returned.
    pub op: Op,
    /// How it ended.
    pub completion: Completion,
    /// The position of its invocation among all entries of the history (0-based): the order
    /// real time gives.
    pub invoked_at: u64,
    /// The position of its completion; `None` when it never completed.
    pub completed_at: Option<u64>,
    /// The 1-based line its invocation starts on.
    pub invoke_line: usize,
    /// The 1-based line its completion starts on.
    pub complete_line: Option<usize>,
    /// `:time` of its completion (else of its invocation), nanoseconds, when the history has it.
    pub time_ns: Option<u64>,
    /// The completion's `:error`, when there is one.
    pub error: Option<String>,
}

/// A history read back, by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// Each key's operations, in the order they were invoked. A history without `[key value]`
    /// tuples is one register, under the key `""`.
    pub keys: BTreeMap<String, Vec<Operation>>,
    /// Entries read (invocations and completions).
    pub entries: u64,
    /// Where the history says it was cut at its size cap: the mark's line and its text.
    pub truncated: Option<(usize, String)>,
}

/// Read a history file ([`super`] describes the format). The file is read a line at a time
/// and a form at a time (a history wrapped in one vector is read whole), so what stays in
/// memory is the operations, not the text.
///
/// Errors: [`Error::Io`] when the file cannot be read; [`HistoryError::NotAnOperation`] naming
/// the file, the line and what is wrong when an entry is not a register operation of a history.
pub fn read(path: &Path) -> Result<Parsed> {
    use std::io::BufRead;
    let io = |e| Error::Io {
        context: format!("reading {}", path.display()),
        source: e,
    };
    let bad = |(line, why): (usize, String)| {
        Error::from(HistoryError::NotAnOperation {
            path: path.to_path_buf(),
            line,
            why,
        })
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut input = std::io::BufReader::with_capacity(1 << 20, file);
    let mut b = Builder::default();
    let mut block: Vec<u8> = Vec::new();
    let mut block_line = 1;
    let mut line_no = 0;
    let mut depth = Depth::default();
    loop {
        let start = block.len();
        let n = input.read_until(b'\n', &mut block).map_err(io)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        depth.scan(&block[start..]);
        if depth.closed() {
            b.feed(&block, block_line).map_err(bad)?;
            block.clear();
            block_line = line_no + 1;
            if b.done {
                break;
            }
        }
    }
    if !block.is_empty() {
        b.feed(&block, block_line).map_err(bad)?;
    }
    b.finish().map_err(bad)
}

/// [`read`] on a history's text. Errors: the 1-based line and why.
pub fn read_text(text: &str) -> std::result::Result<Parsed, (usize, String)> {
    let mut b = Builder::default();
    b.feed(text.as_bytes(), 1)?;
    b.finish()
}

/// Where a scan of EDN text is: open collections, inside a string or not.
#[derive(Debug, Default)]
struct Depth {
    open: i64,
    string: bool,
    escaped: bool,
}

impl Depth {
    /// Follow one line.
    fn scan(&mut self, line: &[u8]) {
        for &c in line {
            if self.string {
                match (self.escaped, c) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                b'"' => self.string = true,
                b';' => break,
                b'{' | b'[' | b'(' => self.open += 1,
                b'}' | b']' | b')' => self.open -= 1,
                _ => {}
            }
        }
    }

    /// Whether every form begun so far is complete.
    fn closed(&self) -> bool {
        self.open <= 0 && !self.string
    }
}

/// A history being read: the entries so far, the operations still open, and whether the
/// history is wrapped in one collection (and by which closing character).
#[derive(Default)]
struct Builder {
    p: Parsed,
    /// Open operations by process: (key, position in that key's list).
    open: HashMap<i64, (String, usize)>,
    /// `None` before the first form; then the closing character of the wrapping collection,
    /// or `Some(0)` when there is none.
    wrapped: Option<u8>,
    /// Set once the wrapping collection closed or the cut mark was read.
    done: bool,
    last_line: usize,
}

impl Builder {
    /// Read the forms of `bytes`, whose first line is line `first_line` of the history.
    fn feed(
        &mut self,
        bytes: &[u8],
        first_line: usize,
    ) -> std::result::Result<(), (usize, String)> {
        let mut r = Reader::at_line(bytes, first_line);
        loop {
            if self.done {
                return Ok(());
            }
            for c in r.skip_with_comments() {
                if c.starts_with(TRUNCATED_MARK) && self.p.truncated.is_none() {
                    self.p.truncated = Some((r.line() - 1, c.to_string()));
                    self.done = true;
                }
            }
            self.last_line = r.line();
            if self.done || r.at_end() {
                return Ok(());
            }
            let wrapped = match self.wrapped {
                Some(w) => w,
                None => {
                    let w = r.peek_collection().unwrap_or(0);
                    if w != 0 {
                        r.open();
                    }
                    self.wrapped = Some(w);
                    continue;
                }
            };
            if wrapped != 0 && r.close(wrapped) {
                self.done = true;
                return Ok(());
            }
            let line = r.line();
            let form = r.value().map_err(|e| (line, e))?;
            let pos = self.p.entries;
            self.p.entries += 1;
            entry(&mut self.p, &mut self.open, &form, pos, line).map_err(|e| (line, e))?;
        }
    }

    fn finish(self) -> std::result::Result<Parsed, (usize, String)> {
        match self.wrapped {
            Some(close) if close != 0 && !self.done => Err((
                self.last_line,
                format!(
                    "the history's collection is never closed with '{}'",
                    close as char
                ),
            )),
            _ => Ok(self.p),
        }
    }
}

/// One entry: an invocation opens an operation, a completion ends its process's open one.
fn entry(
    p: &mut Parsed,
    open: &mut HashMap<i64, (String, usize)>,
    form: &Edn,
    pos: u64,
    line: usize,
) -> std::result::Result<(), String> {
    if !matches!(form, Edn::Map(_)) {
        return Err("not a map".into());
    }
    let ty = match form.get("type") {
        Some(Edn::Keyword(t)) => match t.as_str() {
            "invoke" => Type::Invoke,
            "ok" => Type::Ok,
            "fail" => Type::Fail,
            "info" => Type::Info,
            other => return Err(format!(":type is :{other}")),
        },
        other => return Err(format!(":type is {other:?}")),
    };
    let process = match form.get("process") {
        Some(Edn::Int(n)) => *n,
        // The nemesis and other non-client processes act on no register.
        Some(Edn::Keyword(_)) | Some(Edn::Symbol(_)) => return Ok(()),
        other => return Err(format!(":process is {other:?}")),
    };
    let f = match form.get("f") {
        Some(Edn::Keyword(f)) => f.as_str(),
        other => return Err(format!(":f is {other:?}")),
    };
    let (key, op) = key_and_op(f, form.get("value").unwrap_or(&Edn::Nil))?;
    let time_ns = match form.get("time") {
        Some(Edn::Int(t)) if *t >= 0 => Some(*t as u64),
        _ => None,
    };
    if ty == Type::Invoke {
        if let Some((k, i)) = open.get(&process) {
            let before = &p.keys[k][*i];
            return Err(format!(
                "process {process} invokes while its {} from line {} has not completed",
                before.op.describe(),
                before.invoke_line
            ));
        }
        let ops = p.keys.entry(key.clone()).or_default();
        ops.push(Operation {
            process,
            op,
            completion: Completion::Open,
            invoked_at: pos,
            completed_at: None,
            invoke_line: line,
            complete_line: None,
            time_ns,
            error: None,
        });
        open.insert(process, (key, ops.len() - 1));
        return Ok(());
    }
    let Some((k, i)) = open.remove(&process) else {
        return Err(format!(
            "{} of process {process} with no invocation of it open",
            ty.edn()
        ));
    };
    if k != key {
        return Err(format!(
            "process {process} completes an operation on key {key:?} but invoked one on {k:?}"
        ));
    }
    let o = &mut p.keys.get_mut(&k).expect("opened above")[i];
    if std::mem::discriminant(&o.op) != std::mem::discriminant(&op) {
        return Err(format!(
            "process {process} completes a {} but invoked a {} at line {}",
            op.f(),
            o.op.f(),
            o.invoke_line
        ));
    }
    if let Op::Read(_) = op {
        o.op = op;
    }
    o.completion = match ty {
        Type::Ok => Completion::Ok,
        Type::Fail => Completion::Fail,
        _ => Completion::Info,
    };
    o.completed_at = Some(pos);
    o.complete_line = Some(line);
    o.time_ns = time_ns.or(o.time_ns);
    o.error = match form.get("error") {
        Some(Edn::Str(s)) => Some(s.clone()),
        Some(Edn::Nil) | None => None,
        Some(other) => Some(format!("{other:?}")),
    };
    Ok(())
}

/// The key and the register operation of an entry's `:f` and `:value`: a `[key value]` tuple
/// (`jepsen.independent`), or a plain value (one register, key `""`).
fn key_and_op(f: &str, value: &Edn) -> std::result::Result<(String, Op), String> {
    let int = |v: &Edn| match v {
        Edn::Int(n) => Ok(*n),
        other => Err(format!("{other:?} is not an integer")),
    };
    let read = |v: &Edn| match v {
        Edn::Nil => Ok(None),
        other => int(other).map(Some),
    };
    let pair = |v: &Edn| match v {
        Edn::Vector(on) if on.len() == 2 => Ok((int(&on[0])?, int(&on[1])?)),
        other => Err(format!("{other:?} is not [old new]")),
    };
    let tuple = match value {
        Edn::Vector(kv) if kv.len() == 2 => match f {
            "cas" => matches!(&kv[1], Edn::Vector(_)).then(|| (&kv[0], &kv[1])),
            _ => Some((&kv[0], &kv[1])),
        },
        _ => None,
    };
    let (key, v) = match tuple {
        Some((k, v)) => (key_text(k)?, v),
        None => (String::new(), value),
    };
    let op = match f {
        "read" => Op::Read(read(v)?),
        "write" => Op::Write(int(v)?),
        "cas" => {
            let (a, b) = pair(v)?;
            Op::Cas(a, b)
        }
        other => {
            return Err(format!(
                ":f :{other} is not a register operation (read, write, cas)"
            ))
        }
    };
    Ok((key, op))
}

fn key_text(k: &Edn) -> std::result::Result<String, String> {
    match k {
        Edn::Str(s) => Ok(s.clone()),
        Edn::Int(n) => Ok(n.to_string()),
        Edn::Keyword(s) => Ok(format!(":{s}")),
        other => Err(format!(
            "the key {other:?} is neither a string nor an integer"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_paired_by_process_and_grouped_by_key() {
        let text = r#"; a comment
{:index 0, :type :invoke, :f :read, :value ["a" nil], :process 0, :time 5}
{:index 1, :type :invoke, :f :cas, :value ["b" [0 1]], :process 1, :time 6}
{:index 2, :type :ok, :f :read, :value ["a" 0], :process 0, :time 7}
{:index 3, :type :info, :f :cas, :value ["b" [0 1]], :process 1, :time 8, :error "io: reset"}
{:type :info, :f :kill, :value nil, :process :nemesis}
{:index 4, :type :invoke, :f :write, :value ["a" 3], :process 0, :time 9}
"#;
        let p = read_text(text).unwrap();
        assert_eq!((p.entries, p.truncated.clone()), (6, None));
        let a = &p.keys["a"];
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].op, a[0].completion, a[0].invoked_at, a[0].completed_at),
            (Op::Read(Some(0)), Completion::Ok, 0, Some(2))
        );
        assert_eq!((a[0].invoke_line, a[0].complete_line), (2, Some(4)));
        assert_eq!((a[1].op, a[1].completion), (Op::Write(3), Completion::Open));
        let b = &p.keys["b"][0];
        assert_eq!((b.op, b.completion), (Op::Cas(0, 1), Completion::Info));
        assert_eq!(b.error.as_deref(), Some("io: reset"));
    }

    #[test]
    fn a_plain_register_in_one_vector_or_list_as_knossos_writes_it() {
        let text = "[{:process 0, :type :invoke, :f :cas, :value [1 2]}\n {:process 0, :type :ok, :f :cas, :value [1 2]}\n ; a comment\n {:process 1, :type :invoke, :f :read, :value nil}\n {:process 1, :type :ok, :f :read, :value 2}]\n";
        let list = format!("({})\n", &text[1..text.len() - 2]);
        for text in [text.to_string(), list] {
            let p = read_text(&text).unwrap();
            let r = &p.keys[""];
            assert_eq!(r[0].op, Op::Cas(1, 2));
            assert_eq!(r[1].op, Op::Read(Some(2)));
            assert_eq!((r[1].complete_line, r[1].completed_at), (Some(5), Some(3)));
        }
    }

    #[test]
    fn a_file_is_read_a_form_at_a_time_as_its_text_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let texts = [
            // One map per line, a map over two lines, a string with brackets and a quote.
            "; header\n{:type :invoke, :f :read, :value [\"a\" nil], :process 0}\n{:type :ok, :f :read,\n :value [\"a\" 0], :process 0, :error \"x]} \\\" {\"}\n{:type :invoke, :f :cas, :value [\"a\" [0 1]], :process 0}\n; perseus: history cut at its cap\n{:type :ok, :f :cas, :value [\"a\" [0 1]], :process 0}\n",
            // One vector over several lines.
            "[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :type :ok, :f :write, :value 1}]\n",
        ];
        for (i, text) in texts.iter().enumerate() {
            let path = dir.path().join(format!("h{i}.edn"));
            std::fs::write(&path, text).unwrap();
            assert_eq!(read(&path).unwrap(), read_text(text).unwrap(), "{text}");
        }
        let p = read_text(texts[0]).unwrap();
        assert_eq!(p.entries, 3, "nothing after the cut mark is read");
        assert_eq!(p.truncated.unwrap().0, 6);
        assert_eq!(p.keys["a"][0].error.as_deref(), Some("x]} \" {"));
        let bad = dir.path().join("bad.edn");
        std::fs::write(&bad, "{:type :ok, :f :read, :value 1, :process 0}\n").unwrap();
        let e = read(&bad).unwrap_err().to_string();
        assert!(e.ends_with("bad.edn:1: not a history operation (:ok of process 0 with no invocation of it open)"), "{e}");
    }

    #[test]
    fn the_cut_mark_ends_the_history() {
        let text = "{:type :invoke, :f :read, :value [\"k\" nil], :process 0}\n; perseus: history cut at its cap of 100 bytes at 2.5 s\n";
        let p = read_text(text).unwrap();
        let (line, mark) = p.truncated.unwrap();
        assert_eq!(line, 2);
        assert!(mark.contains("2.5 s"));
    }

    #[test]
    fn entries_that_are_no_register_history_say_where_and_why() {
        let cases = [
            ("{:type :ok, :f :read, :value 1, :process 0}", "no invocation"),
            (
                "{:type :invoke, :f :read, :value nil, :process 0}\n{:type :invoke, :f :read, :value nil, :process 0}",
                "has not completed",
            ),
            ("{:type :invoke, :f :add, :value 1, :process 0}", ":f :add"),
            ("{:type :invoke, :f :cas, :value [\"k\" 1], :process 0}", "not an integer"),
            ("{:type :invoke, :f :cas, :value 3, :process 0}", "not [old new]"),
            ("[{:type :invoke, :f :read, :value nil, :process 0}", "never closed with ']'"),
            (
                "{:type :invoke, :f :read, :value [\"a\" nil], :process 0}\n{:type :ok, :f :read, :value [\"b\" 1], :process 0}",
                "on key \"b\"",
            ),
        ];
        for (text, why) in cases {
            let (line, e) = read_text(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
            assert!(line >= 1);
        }
    }
}
