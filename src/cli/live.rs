//! The live per-node view on stderr (indicatif), shown only when stderr is a terminal.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use perseus::load::Second;
use perseus::node::NodeName;

/// One bar per node plus the cluster total, redrawn each second.
pub struct LiveView {
    multi: MultiProgress,
    total: ProgressBar,
    bars: Vec<ProgressBar>,
    peak: u64,
}

impl LiveView {
    /// A view for these nodes, or `None` when stderr is not a terminal.
    pub fn new(nodes: &[NodeName]) -> Option<LiveView> {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix:>6} {bar:40.cyan/blue} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("█▉ ");
        let total = multi.add(
            ProgressBar::new(1)
                .with_style(style.clone())
                .with_prefix("total"),
        );
        let bars = nodes
            .iter()
            .map(|n| {
                multi.add(
                    ProgressBar::new(1)
                        .with_style(style.clone())
                        .with_prefix(n.to_string()),
                )
            })
            .collect();
        Some(LiveView {
            multi,
            total,
            bars,
            peak: 1,
        })
    }

    /// Show one second.
    pub fn update(&mut self, s: &Second) {
        let total: u64 = s.counts.iter().sum();
        self.peak = self.peak.max(total);
        self.total.set_length(self.peak);
        self.total.set_position(total);
        self.total
            .set_message(format!("{total} ok/s  (second {})", s.sec));
        for (i, bar) in self.bars.iter().enumerate() {
            bar.set_length(self.peak);
            bar.set_position(s.counts[i]);
            let err = s.errors[i];
            bar.set_message(if err > 0 {
                format!("{} ok/s  {} errors", s.counts[i], err)
            } else {
                format!("{} ok/s", s.counts[i])
            });
        }
    }

    /// Write a data line to stdout without tearing the bars.
    pub fn stdout_line(&self, line: &str) {
        self.multi.suspend(|| println!("{line}"));
    }

    /// Print a line above the bars (a fault, a note).
    pub fn println(&self, line: &str) {
        let _ = self.multi.println(line);
    }

    /// Remove the bars.
    pub fn finish(self) {
        for b in self.bars {
            b.finish_and_clear();
        }
        self.total.finish_and_clear();
        let _ = self.multi.clear();
    }
}
