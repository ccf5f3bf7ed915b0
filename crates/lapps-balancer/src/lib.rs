//! Placement of connections onto service instances.
//!
//! This crate is a skeleton. It gets its substance with the Lua services (issue 4): the
//! `round_robin`, `least_connections` and `weighted` strategies as pure functions over plain
//! load figures.

#![forbid(unsafe_code)]
