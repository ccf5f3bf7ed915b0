//! What the codec benches share: the criterion settings, a fixed pseudo-random payload, and
//! an in-memory stream that replays recorded bytes.

#![allow(dead_code, reason = "each bench uses part of this module")]

use std::io::{self, Read, Write};
use std::time::Duration;

use bytes::BytesMut;
use criterion::Criterion;

/// The settings every group runs with: short, for a shared 2-core machine.
pub(crate) fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

/// Returns `len` bytes of a fixed pseudo-random pattern (xorshift32).
pub(crate) fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// An in-memory stream that replays a recorded byte sequence; writes are discarded.
///
/// Like a socket, a read returns at most `max_read` bytes (by default no limit: as many as
/// the caller has room for), whatever the caller asks for.
#[derive(Debug)]
pub(crate) struct Replay {
    wire: Vec<u8>,
    pos: usize,
    max_read: usize,
}

impl Replay {
    pub(crate) const fn new(wire: Vec<u8>) -> Self {
        Self {
            wire,
            pos: 0,
            max_read: usize::MAX,
        }
    }

    /// Returns a replay whose reads return at most `max_read` bytes each.
    pub(crate) const fn with_max_read(wire: Vec<u8>, max_read: usize) -> Self {
        Self {
            wire,
            pos: 0,
            max_read,
        }
    }

    /// Starts the replay over.
    pub(crate) const fn rewind(&mut self) {
        self.pos = 0;
    }

    /// Appends up to `max` replayed bytes to `dst`, as a read into spare capacity would;
    /// returns how many.
    pub(crate) fn read_into(&mut self, dst: &mut BytesMut, max: usize) -> usize {
        let n = max.min(self.max_read).min(self.wire.len() - self.pos);
        dst.extend_from_slice(&self.wire[self.pos..self.pos + n]);
        self.pos += n;
        n
    }
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.max_read).min(self.wire.len() - self.pos);
        buf[..n].copy_from_slice(&self.wire[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
