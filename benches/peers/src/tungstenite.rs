//! Echo peer (issue 5). Work in progress.

fn main() {}
