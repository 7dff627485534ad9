//! The sandboxer conformance kit: runs an extension (any language: only its
//! executable and the protocol are used) through checks of protocol v1 and reports
//! each with its id, MUST/SHOULD level and protocol section.

pub mod context;
pub mod peer;
pub mod registry;
pub mod report;
pub mod runner;
pub mod scenarios;
