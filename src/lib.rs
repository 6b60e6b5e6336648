//! Perseus: a local, Docker-based chaos lab for distributed databases.
//!
//! One command builds and launches a cluster as containers on a Docker network ([`lab`], from
//! images built here from Debian packages: [`images`]); a load loop
//! runs against every node and counts successful read-increment-write iterations per second ([`load`]);
//! faults are injected on nodes ([`fault`]); the systems the lab knows (drivers, readiness, leader
//! lookup) live in [`systems`]; experiments written as YAML timelines run through [`scenario`], and
//! their run folders (report, plot, JUnit) are made by [`report`]; `perseus table`'s campaign
//! (the seeds' summary tables, measured) is [`table`]. Every operation goes into a
//! history in Jepsen's format ([`history`]) that [`checker`] judges again from the file alone. The CLI in `main.rs` is a thin
//! layer over these modules.
#![deny(missing_docs)]

pub mod bisect;
pub mod checker;
pub mod docker;
pub mod driver;
pub mod error;
pub mod fault;
pub mod history;
pub mod http;
pub mod images;
pub mod lab;
pub mod load;
pub mod locate;
pub mod metrics;
pub mod node;
pub mod report;
pub mod scenario;
pub mod status;
pub mod systems;
pub mod table;
pub mod units;
pub mod workload;

#[cfg(test)]
mod tests;

pub use error::{Error, Result};
