//! Perseus' lazy file system: a FUSE passthrough that holds what a database wrote and did not make
//! durable, and can drop it all, as a disk losing power would ([`cache`] is the bookkeeping,
//! [`fs`] the FUSE side, [`supervise`] the process that mounts it over a node's data directory and
//! runs the database above it).
//!
//! Jepsen does the same with lazyfs (dsrhaslab/lazyfs, C++ on libfuse); this is Perseus' own, on
//! the `fuser` crate, with the part lazyfs leaves out: directory changes not followed by a
//! directory `fsync` are undone too.

pub mod cache;
pub mod fs;
pub mod supervise;
