//! A server-role `Connection` run through a script of peer input and local commands; see
//! `lapps_fuzz::connection` for the script format and the invariants checked.
#![no_main]

use lapps_proto::config::Role;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lapps_fuzz::connection(Role::Server, data));
