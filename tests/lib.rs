//! End-to-end tests of the lapps workspace: the server, Lua and the balancer over real sockets.
//!
//! The tests arrive with the server (issue 3); the Autobahn expectations live in `autobahn/`.

#![forbid(unsafe_code)]
