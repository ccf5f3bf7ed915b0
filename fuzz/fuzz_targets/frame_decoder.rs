//! A `FrameDecoder` fed a stream in arbitrary pieces yields the frames, the error and the
//! leftover bytes that it yields for the stream fed whole.
//!
//! Input: a config byte (bit 0 role, bit 1 `accept_unmasked`, bits 2–4 allowed RSV, bits 5–7
//! `max_frame_size`), a count byte `k` (low 3 bits, plus one), `k` piece sizes used in a
//! cycle, then the stream.
#![no_main]

use bytes::BytesMut;
use lapps_proto::config::Role;
use lapps_proto::error::ProtocolError;
use lapps_proto::frame::{Frame, FrameDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [cfg, count, rest @ ..] = data else {
        return;
    };
    let k = usize::from(count & 7) + 1;
    let Some((sizes, stream)) = rest.split_at_checked(k) else {
        return;
    };
    let new_decoder = || {
        let role = if cfg & 1 == 0 {
            Role::Server
        } else {
            Role::Client
        };
        let max = [0, 1, 125, 126, 65_535, 65_536, 1 << 20, usize::MAX][usize::from(cfg >> 5)];
        let mut decoder = FrameDecoder::new(role, max);
        decoder.set_accept_unmasked(cfg & 2 != 0);
        decoder.set_allowed_rsv(cfg >> 2);
        decoder
    };

    let mut whole = Run::new(new_decoder());
    whole.feed(stream);

    let mut split = Run::new(new_decoder());
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at >= stream.len() || split.error.is_some() {
            break;
        }
        let end = stream.len().min(at + usize::from(*size).max(1));
        split.feed(&stream[at..end]);
        at = end;
    }

    assert_eq!(whole.frames, split.frames);
    assert_eq!(whole.error, split.error);
    if whole.error.is_none() {
        // Payload bytes of a partial frame are unmasked in place in both.
        assert_eq!(whole.buf, split.buf);
    }
});

struct Run {
    decoder: FrameDecoder,
    buf: BytesMut,
    frames: Vec<Frame>,
    error: Option<ProtocolError>,
}

impl Run {
    fn new(decoder: FrameDecoder) -> Self {
        Self {
            decoder,
            buf: BytesMut::new(),
            frames: Vec::new(),
            error: None,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(frame)) => {
                    assert!(frame.rsv <= 0b111);
                    assert!(!frame.opcode.is_reserved());
                    self.frames.push(frame);
                }
                Ok(None) => return,
                Err(error) => {
                    self.error = Some(error);
                    return;
                }
            }
        }
    }
}
