//! Benchmark placeholder; see issue 2.

fn main() {}
