//! `lapps-load`: the closed-loop load generator (issue 5). Work in progress.

fn main() {}
