//! The `lapps` binary.
fn main() {}
