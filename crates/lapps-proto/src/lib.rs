//! A sans-IO RFC 6455 codec.
#![forbid(unsafe_code)]
