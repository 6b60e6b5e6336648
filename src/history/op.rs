//! The words of a history: an entry's type, a register operation with its value, and what a
//! completion rests on.

/// A register value as histories hold it (Jepsen's integers).
pub type Value = i64;

/// The start of the comment line that ends a history cut at its size cap:
/// `; perseus: history cut at ...`.
pub const TRUNCATED_MARK: &str = "; perseus: history cut";

/// An operation's (or its completion's) type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// Invoked.
    Invoke,
    /// Acknowledged.
    Ok,
    /// Definitely did not happen.
    Fail,
    /// Unknown: it may take effect at any later time, or never.
    Info,
}

impl Type {
    /// `:invoke`, `:ok`, `:fail`, `:info`.
    pub fn edn(self) -> &'static str {
        match self {
            Type::Invoke => ":invoke",
            Type::Ok => ":ok",
            Type::Fail => ":fail",
            Type::Info => ":info",
        }
    }
}

/// What an operation does to a register, with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// A read, and what it returned (`None`: not known, as on an invocation; Knossos accepts a
    /// read of `nil` from any state).
    Read(Option<Value>),
    /// An unconditional write (Perseus writes none; foreign histories may).
    Write(Value),
    /// A compare-and-set `[old new]`: writes `new` if the register holds `old`.
    Cas(Value, Value),
}

impl Op {
    /// `:read`, `:write`, `:cas`.
    pub fn f(self) -> &'static str {
        match self {
            Op::Read(_) => ":read",
            Op::Write(_) => ":write",
            Op::Cas(..) => ":cas",
        }
    }

    /// `read 3`, `read nil`, `write 4`, `cas [3 4]`.
    pub fn describe(self) -> String {
        match self {
            Op::Read(Some(v)) => format!("read {v}"),
            Op::Read(None) => "read nil".to_string(),
            Op::Write(v) => format!("write {v}"),
            Op::Cas(a, b) => format!("cas [{a} {b}]"),
        }
    }
}

/// What a completion rests on, as the database numbered it: `:revision` (what a read returned)
/// or `:seq` (where a write was acknowledged), with the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    /// The EDN key, without the colon: `revision` or `seq`.
    pub name: &'static str,
    /// The database's number.
    pub value: u64,
}

/// A load-loop counter as a history value (the counters stay far below `i64::MAX`; one above it
/// is shown as `i64::MAX`).
pub fn counter(v: u64) -> Value {
    Value::try_from(v).unwrap_or(Value::MAX)
}
