//! `bcast`: process-wide broadcast channels (spec §3.9).
