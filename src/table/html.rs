//! `table.html`: the tables of `table.md` in one self-contained page (inline style, no script,
//! nothing fetched), from the same [`Section`]s, with a link to every run's `report.html`.

use std::fmt::Write as _;

use super::cell::Table;
use super::markdown::{sections, Section};
use crate::report::html::{code_spans, escape, page, table as html_table};
use crate::report::Outcome;

/// The page: each table with what its cells mean, what was left out, and every run's report.
pub fn html(table: &Table) -> String {
    let e = escape;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<h1>The Perseus table</h1>\n<p>Started {}; also as <a href=\"table.md\">table.md</a> and <a href=\"table.json\">table.json</a>.</p>",
        e(&table.started)
    );
    for Section {
        heading,
        head,
        rows,
        notes,
    } in sections(&table.rows, &table.options)
    {
        let _ = writeln!(s, "<h2>{}</h2>", e(&heading));
        let head: Vec<&str> = head.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|c| e(c)).collect())
            .collect();
        html_table(&mut s, &head, &rows);
        for note in &notes {
            let _ = writeln!(s, "<p class=\"note\">{}</p>", code_spans(&e(note)));
        }
    }
    if !table.skipped.is_empty() {
        let _ = writeln!(s, "<p>Left out: {}.</p>", e(&table.skipped.join("; ")));
    }
    if table.interrupted {
        let _ = writeln!(
            s,
            "<p class=\"fail\">Interrupted: not every run was made.</p>"
        );
    }
    let _ = writeln!(s, "<h2>Runs</h2>\n<ul>");
    for r in &table.rows {
        if let Some(err) = &r.error {
            let _ = writeln!(
                s,
                "<li>{}: the lab did not come up: {}</li>",
                e(&r.title),
                e(err)
            );
        }
        for c in &r.cells {
            let links: Vec<String> = c
                .runs
                .iter()
                .map(|run| {
                    let d = e(&run.folder);
                    let link = format!(
                        "<a href=\"{d}/report.html\">{d}</a> (<a href=\"{d}/report.md\">md</a>)"
                    );
                    match run.outcome {
                        Outcome::Passed | Outcome::Failed => link,
                        o => format!("{link} {}", o.word()),
                    }
                })
                .collect();
            if !links.is_empty() {
                let _ = writeln!(
                    s,
                    "<li>{} {}: {}</li>",
                    e(&r.title),
                    e(c.experiment.title()),
                    links.join(", ")
                );
            }
        }
    }
    let _ = writeln!(s, "</ul>");
    page("The Perseus table", &s)
}
