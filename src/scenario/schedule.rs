//! When a scenario's steps fire: every firing of every step, repeats included, in time order,
//! and the seeded draws (`random` targets, partition shapes) that make a run repeatable.

use std::time::Duration;

use super::format::{Scenario, Step, StepRef};

/// At most this many firings in one scenario, every step's repeats together.
pub const MAX_FIRINGS: usize = 10_000;

/// A repeating step fires at most this often.
pub const MIN_EVERY: Duration = Duration::from_secs(1);

/// One firing of a step: when it is due, which step, and which of its repeats (0: the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Firing {
    /// Offset from the start of the measured load.
    pub at: Duration,
    /// The step's index.
    pub step: usize,
    /// Which repeat: 0 for the first firing, 1 for the next `every` later, ...
    pub repeat: u32,
}

impl Step {
    /// When this step fires: `at`, then every `every` while before `until` (or `end`, the
    /// load's length), at most `cap` times.
    fn due(&self, end: Duration, cap: usize) -> Vec<Duration> {
        let mut out = vec![self.at];
        if let Some(every) = self.every.filter(|e| !e.is_zero()) {
            let until = self.until.unwrap_or(end).min(end);
            let mut t = self.at + every;
            while t < until && out.len() < cap {
                out.push(t);
                t += every;
            }
        }
        out
    }
}

impl Scenario {
    /// Every firing of every step, in time order; firings due at the same moment in the order of
    /// their steps. At most [`MAX_FIRINGS`] + 1 (validation refuses a scenario with more).
    pub fn firings(&self) -> Vec<Firing> {
        let mut out: Vec<Firing> = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            for (k, at) in step
                .due(self.load.duration, MAX_FIRINGS + 1)
                .into_iter()
                .enumerate()
            {
                out.push(Firing {
                    at,
                    step: i,
                    repeat: k as u32,
                });
            }
            if out.len() > MAX_FIRINGS {
                break;
            }
        }
        out.sort_by_key(|f| (f.at, f.step, f.repeat));
        out
    }
}

/// One splitmix64 step: the next state's output.
fn splitmix(z: u64) -> u64 {
    let z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One firing's random draws: a splitmix64 sequence started from the run's seed, the step's
/// index and the firing's repeat, so neighbouring firings draw unrelated values. The algorithm is
/// written here (not a library's generator, which may change between versions), so a seed makes
/// the same draws everywhere, now and later.
#[derive(Debug, Clone)]
pub struct FiringDraw(u64);

impl FiringDraw {
    /// The next draw.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix(self.0)
    }
}

/// The draws of firing `repeat` of step `step` in a run with `seed`.
pub fn firing_draw(seed: u64, step: usize, repeat: u32) -> FiringDraw {
    FiringDraw(seed ^ splitmix(((step as u64) << 32) | u64::from(repeat)))
}

/// The index of the step `r` refers to.
pub fn step_index(steps: &[Step], r: &StepRef) -> Option<usize> {
    match r {
        StepRef::Index(i) => (*i < steps.len()).then_some(*i),
        StepRef::Name(n) => steps.iter().position(|s| s.name.as_deref() == Some(n)),
    }
}
