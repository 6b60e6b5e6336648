//! A scenario that cannot be run as asked: [`ScenarioError`] (re-exported as
//! `perseus::scenario::ScenarioError`).

use std::path::PathBuf;

/// A scenario that cannot be run as asked (exit code 2, [`super::Error::exit_code`]). A file that does
/// not parse or check is an [`super::Error::Definition`], with its line and column.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// `--reuse` of a running lab with another node count than the scenario's.
    #[error("the running {system} lab has {running} nodes and {} wants {wanted}: run `perseus lab down {system}` first, or run without --reuse", file.display())]
    LabSize {
        /// The system.
        system: String,
        /// The running lab's nodes.
        running: usize,
        /// The scenario file.
        file: PathBuf,
        /// The scenario's nodes.
        wanted: usize,
    },
    /// A step aims at an earlier step that has not fired.
    #[error("step '{step}' has not fired")]
    NotFired {
        /// The step's name.
        step: String,
    },
    /// A scenario made in code that cannot be written as YAML.
    #[error("scenario {name} cannot be written as YAML: {source}")]
    Unwritable {
        /// Its name.
        name: String,
        /// The writer's error.
        source: serde_yaml::Error,
    },
}
