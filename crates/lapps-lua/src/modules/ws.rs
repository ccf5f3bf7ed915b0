//! `ws`: send to and close server connections (spec §3.8).
