//! `perseus schema scenario|definition`: the JSON Schema of a scenario or a cluster definition,
//! on stdout, for editors and outside validators (the library generates it from its parser's
//! types; `schemas/*.schema.json` are copies of it).

use clap::{Args, ValueEnum};

/// `perseus schema KIND`.
#[derive(Debug, Args)]
pub(super) struct SchemaArgs {
    /// Which file's schema: a scenario (scenarios/*.yaml) or a cluster definition
    /// (compose/*.yaml).
    kind: Kind,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// A scenario file.
    Scenario,
    /// A cluster definition: a Compose file with an x-perseus extension.
    Definition,
}

/// Print the schema as pretty JSON; exit 0 (also when the reader stops early: `| head`).
pub(super) fn schema_command(args: SchemaArgs) -> anyhow::Result<i32> {
    use std::io::Write as _;
    let schema = match args.kind {
        Kind::Scenario => perseus::scenario::schema(),
        Kind::Definition => perseus::lab::definition::schema(),
    };
    let text = serde_json::to_string_pretty(&schema)?;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(0),
    }
}
