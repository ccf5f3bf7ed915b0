//! Load generator and end-to-end benchmarks for lapps.
//!
//! The load generator arrives with issue 5. The codec's micro-benchmarks live in
//! `crates/lapps-proto/benches`.

#![forbid(unsafe_code)]
