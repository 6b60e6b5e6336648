//! Histories in Jepsen's operation format (`history.edn`): every operation the load loop made,
//! invocation and completion, so that what Perseus concluded can be checked again from the file
//! alone, by [`crate::checker`] or by Jepsen's own tools.
//!
//! One EDN map per line, in the order the operations were invoked and completed, after a comment
//! line that says what the file holds:
//!
//! ```text
//! ; perseus history of run r17-ab: one compare-and-set register per key, initial value 0, ...
//! {:index 0, :type :invoke, :f :read, :value ["r17-ab/n1/0" nil], :process 0, :time 1520311}
//! {:index 1, :type :ok, :f :read, :value ["r17-ab/n1/0" 0], :process 0, :time 2411893}
//! {:index 2, :type :invoke, :f :cas, :value ["r17-ab/n1/0" [0 1]], :process 0, :time 2412004}
//! {:index 3, :type :ok, :f :cas, :value ["r17-ab/n1/0" [0 1]], :process 0, :time 3398112}
//! {:index 4, :type :invoke, :f :cas, :value ["r17-ab/n1/0" [1 2]], :process 0, :time 3398412}
//! {:index 5, :type :info, :f :cas, :value ["r17-ab/n1/0" [1 2]], :process 0, :time 1003402117, :error "io: reset"}
//! ```
//!
//! - `:type` is `:invoke`, then `:ok` (acknowledged), `:fail` (definitely not applied) or `:info`
//!   (unknown: it may take effect at any later time, or never).
//! - Each key is a compare-and-set register whose initial value is 0 (Knossos' `(cas-register
//!   0)`): a key that does not exist is read as `0`, and every write is `:cas [old new]` from the
//!   value read, a key's first write `:cas [0 1]` (the loop's insert-if-absent). So a wipe reads
//!   as `0` after an acknowledged value, which a cas-register started at 0 rejects. (Until
//!   2026-12 Perseus wrote `nil` for a missing key and `:write` for a first write; Knossos reads
//!   a `nil` read as "value unknown" and a `:write` as unconditional, which explains a wipe.)
//! - `:value` is the `[key value]` tuple `jepsen.independent` writes: a read's value (`nil` on
//!   its invocation), a cas's `[old new]`.
//! - `:time` is nanoseconds since the load began. `:process` is the connection, numbered as
//!   Jepsen numbers processes: a connection whose operation ended `:info` takes a new number (a
//!   crashed process never invokes again).
//! - Where the database numbers what it did, the completion says it: `:revision` (the stream
//!   sequence of the entry a NATS read returned) and `:seq` (the sequence NATS acknowledged a
//!   write at), so a reviewer can audit a claimed loss from the file alone.
//! - The final reads made after the load are `:read`s of each key's last process.
//! - A history cut at its size cap ends with a comment line saying where it stops
//!   ([`TRUNCATED_MARK`]); [`read`] reports it and the checker refuses to call such a file
//!   linearizable.
//!
//! The reader ([`read`]) takes this format and Jepsen's generally: maps one per line or inside
//! one top-level vector, `:value` as a `[key value]` tuple or a plain register value (one
//! register), keys as strings or integers.

pub mod edn;
mod op;
mod read;
mod writer;

pub use crate::error::HistoryError;
pub use op::{counter, Evidence, Op, Type, Value, TRUNCATED_MARK};
pub use read::{read, read_text, Completion, Operation, Parsed};
pub use writer::{History, HistoryReport, HistoryWriter, DEFAULT_MAX_BYTES, DISK_RESERVE};
