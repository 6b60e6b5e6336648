//! A small EDN reader, as far as histories need: maps, vectors, lists, sets, strings, keywords,
//! symbols, integers, floats, `nil`, `true`/`false`, comments (`;` to the end of the line), the
//! discard form `#_`, and tagged values (`#jepsen.history.Op{...}` reads as its map). Whitespace
//! and commas separate forms. The reader works on the bytes of a whole file and says at which
//! line a malformed form starts.
//!
//! Source: the EDN format, <https://github.com/edn-format/edn>.

/// An EDN value.
#[derive(Debug, Clone, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An integer (one that fits in 64 bits).
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A keyword, without its colon.
    Keyword(String),
    /// A symbol.
    Symbol(String),
    /// A vector `[...]` or a list `(...)`.
    Vector(Vec<Edn>),
    /// A set `#{...}`.
    Set(Vec<Edn>),
    /// A map `{...}`, its pairs in the order written.
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    /// The value of keyword `k` in a map (`None` when this is not a map or has no such key).
    pub fn get(&self, k: &str) -> Option<&Edn> {
        match self {
            Edn::Map(pairs) => pairs
                .iter()
                .find(|(key, _)| matches!(key, Edn::Keyword(x) if x == k))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Reads forms one after another from a byte buffer.
pub struct Reader<'a> {
    s: &'a [u8],
    i: usize,
    line: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `s`.
    pub fn new(s: &'a [u8]) -> Reader<'a> {
        Reader::at_line(s, 1)
    }

    /// A reader at the start of `s`, which is line `line` of a larger text.
    pub fn at_line(s: &'a [u8], line: usize) -> Reader<'a> {
        Reader { s, i: 0, line }
    }

    /// The 1-based line the reader is at.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Skip whitespace, commas and comments. Returns the comment lines passed, each without
    /// its line end, so that a caller can look for a marker in them.
    pub fn skip_with_comments(&mut self) -> Vec<&'a str> {
        let mut comments = Vec::new();
        while let Some(&c) = self.s.get(self.i) {
            if c == b'\n' {
                self.line += 1;
                self.i += 1;
            } else if c.is_ascii_whitespace() || c == b',' {
                self.i += 1;
            } else if c == b';' {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != b'\n' {
                    self.i += 1;
                }
                comments.push(std::str::from_utf8(&self.s[start..self.i]).unwrap_or(""));
            } else {
                break;
            }
        }
        comments
    }

    fn skip(&mut self) {
        let _ = self.skip_with_comments();
    }

    /// Whether only whitespace and comments are left.
    pub fn at_end(&mut self) -> bool {
        self.skip();
        self.i >= self.s.len()
    }

    /// The character that closes the collection the next form opens, when it opens a vector
    /// (`]`) or a list (`)`), without reading it.
    pub fn peek_collection(&mut self) -> Option<u8> {
        self.skip();
        match self.s.get(self.i) {
            Some(b'[') => Some(b']'),
            Some(b'(') => Some(b')'),
            _ => None,
        }
    }

    /// Step into the vector or list that opens next; [`Reader::close`] steps out.
    pub fn open(&mut self) {
        self.skip();
        self.i += 1;
    }

    /// Whether the next character is `close`; if so, step past it.
    pub fn close(&mut self, close: u8) -> bool {
        self.skip();
        if self.s.get(self.i) == Some(&close) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Read the next form. Errors: why it is not EDN.
    pub fn value(&mut self) -> Result<Edn, String> {
        self.skip();
        let Some(&c) = self.s.get(self.i) else {
            return Err("unexpected end of the file".into());
        };
        match c {
            b'{' | b'[' | b'(' => {
                self.i += 1;
                let close = match c {
                    b'{' => b'}',
                    b'[' => b']',
                    _ => b')',
                };
                let items = self.until(close)?;
                if c != b'{' {
                    return Ok(Edn::Vector(items));
                }
                pairs(items)
            }
            b'#' => {
                self.i += 1;
                match self.s.get(self.i) {
                    Some(b'{') => {
                        self.i += 1;
                        Ok(Edn::Set(self.until(b'}')?))
                    }
                    Some(b'_') => {
                        self.i += 1;
                        self.value()?;
                        self.value()
                    }
                    _ => {
                        // A tagged value: the tag, then the value it tags.
                        self.token()?;
                        self.value()
                    }
                }
            }
            b'"' => self.string(),
            b'}' | b']' | b')' => Err(format!("an unexpected '{}'", c as char)),
            _ => {
                let tok = self.token()?;
                Ok(atom(tok))
            }
        }
    }

    fn until(&mut self, close: u8) -> Result<Vec<Edn>, String> {
        let mut items = Vec::new();
        loop {
            self.skip();
            match self.s.get(self.i) {
                None => return Err(format!("no closing '{}'", close as char)),
                Some(&b) if b == close => {
                    self.i += 1;
                    return Ok(items);
                }
                Some(_) => items.push(self.value()?),
            }
        }
    }

    fn token(&mut self) -> Result<&'a str, String> {
        let start = self.i;
        while self.i < self.s.len()
            && !self.s[self.i].is_ascii_whitespace()
            && !matches!(
                self.s[self.i],
                b',' | b'}' | b']' | b')' | b'{' | b'[' | b'(' | b'"' | b';'
            )
        {
            self.i += 1;
        }
        if start == self.i {
            return Err("an empty token".into());
        }
        std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())
    }

    fn string(&mut self) -> Result<Edn, String> {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return Err("an unterminated string".into());
            };
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let e = self.s.get(self.i).copied().unwrap_or(b'\\');
                    self.i += 1;
                    out.push(match e {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        other => other,
                    });
                }
                b'\n' => {
                    self.line += 1;
                    out.push(b);
                }
                _ => out.push(b),
            }
        }
        Ok(Edn::Str(String::from_utf8_lossy(&out).into_owned()))
    }
}

fn pairs(items: Vec<Edn>) -> Result<Edn, String> {
    if !items.len().is_multiple_of(2) {
        return Err("a map with an odd number of forms".into());
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(Edn::Map(out))
}

fn atom(tok: &str) -> Edn {
    match tok {
        "nil" => return Edn::Nil,
        "true" => return Edn::Bool(true),
        "false" => return Edn::Bool(false),
        _ => {}
    }
    if let Some(k) = tok.strip_prefix(':') {
        return Edn::Keyword(k.to_string());
    }
    let digits = tok.trim_end_matches('N');
    if let Ok(n) = digits.parse::<i64>() {
        return Edn::Int(n);
    }
    if let Ok(f) = tok.trim_end_matches('M').parse::<f64>() {
        if tok.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.') {
            return Edn::Float(f);
        }
    }
    Edn::Symbol(tok.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Edn {
        Reader::new(s.as_bytes()).value().unwrap()
    }

    #[test]
    fn reads_the_forms_histories_hold() {
        assert_eq!(
            one(r#"{:type :ok, :value ["k\"1" [1 -2]], :x nil, :y 1.5, :z true}"#),
            Edn::Map(vec![
                (Edn::Keyword("type".into()), Edn::Keyword("ok".into())),
                (
                    Edn::Keyword("value".into()),
                    Edn::Vector(vec![
                        Edn::Str("k\"1".into()),
                        Edn::Vector(vec![Edn::Int(1), Edn::Int(-2)])
                    ])
                ),
                (Edn::Keyword("x".into()), Edn::Nil),
                (Edn::Keyword("y".into()), Edn::Float(1.5)),
                (Edn::Keyword("z".into()), Edn::Bool(true)),
            ])
        );
        assert_eq!(
            one("#jepsen.history.Op{:f :read}").get("f"),
            Some(&Edn::Keyword("read".into()))
        );
        assert_eq!(one("#{1 2}"), Edn::Set(vec![Edn::Int(1), Edn::Int(2)]));
        assert_eq!(
            one("(1 #_ 2 3)"),
            Edn::Vector(vec![Edn::Int(1), Edn::Int(3)])
        );
        assert_eq!(one("sym"), Edn::Symbol("sym".into()));
    }

    #[test]
    fn comments_are_skipped_and_returned_and_lines_are_counted() {
        let text = "; one\n{:a 1}\n; perseus: cut\n\n{:a\n 2}";
        let mut r = Reader::new(text.as_bytes());
        assert_eq!(r.skip_with_comments(), vec!["; one"]);
        assert_eq!(r.line(), 2);
        r.value().unwrap();
        assert_eq!(r.skip_with_comments(), vec!["; perseus: cut"]);
        assert_eq!(r.line(), 5);
        assert_eq!(r.value().unwrap().get("a"), Some(&Edn::Int(2)));
        assert!(r.at_end());
    }

    #[test]
    fn malformed_forms_are_errors() {
        for bad in ["{:a}", "[1 2", "\"open", "}", ""] {
            assert!(Reader::new(bad.as_bytes()).value().is_err(), "{bad}");
        }
    }
}
