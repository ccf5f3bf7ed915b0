//! Payload masking (RFC 6455 §5.3).
//!
//! Masking XORs each payload byte `i` with `key[i % 4]`. [`apply_mask`] does this 32 bytes at a
//! time, as four `u64` XORs that LLVM turns into vector instructions, in safe code;
//! [`apply_mask_bytewise`] is the plain reference that tests and fuzzers compare it against.
//! `benches/mask.rs` measures both.

/// Payloads from this length on are unmasked from a 16-byte boundary on (see [`apply_mask`]).
const ALIGN_FROM: usize = 512;

/// Masks or unmasks `buf` in place with `key`, starting at key position 0.
///
/// Masking is its own inverse: applying the same key twice restores the input.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4]) {
    if buf.len() >= ALIGN_FROM {
        mask_aligned(buf, key);
    } else {
        mask_words(buf, key);
    }
}

/// Masks a long `buf` from its first 16-byte boundary on, after the bytes before it.
///
/// A frame's payload starts right after its 2- to 14-byte header, so it is rarely aligned,
/// and unaligned 16-byte loads and stores that straddle cache lines cost: unmasking 16 KiB
/// payloads this way made the whole decode 7–10 % faster (docs/performance.md). Below
/// [`ALIGN_FROM`] the extra steps cost more than they save.
fn mask_aligned(buf: &mut [u8], key: [u8; 4]) {
    let head = buf.as_ptr().addr().wrapping_neg() % 16;
    let (head, body) = buf.split_at_mut(head);
    mask_words(head, key);
    mask_words(body, rotate_key(key, head.len()));
}

/// Masks `buf` a word at a time, starting at key position 0.
#[inline]
fn mask_words(buf: &mut [u8], key: [u8; 4]) {
    let key32 = u32::from_ne_bytes(key);
    // The key twice over: the same bytes in either byte order.
    let key64 = u64::from(key32) | (u64::from(key32) << 32);
    // 32-byte blocks of four independent words give LLVM a loop body it vectorises and
    // unrolls well: a loop of single `u64` words took 20–55 % longer for 64 B–1 KiB
    // payloads, and one of `u128` words more than twice as long (docs/performance.md). Every
    // block, word and tail below starts at a multiple of 4, so key position 0 lines up with
    // its first byte.
    let (blocks, rest) = buf.as_chunks_mut::<32>();
    for block in blocks {
        for word in block.as_chunks_mut::<8>().0 {
            *word = (u64::from_ne_bytes(*word) ^ key64).to_ne_bytes();
        }
    }
    let (words, rest) = rest.as_chunks_mut::<8>();
    for word in words {
        *word = (u64::from_ne_bytes(*word) ^ key64).to_ne_bytes();
    }
    let (words, rest) = rest.as_chunks_mut::<4>();
    for word in words {
        *word = (u32::from_ne_bytes(*word) ^ key32).to_ne_bytes();
    }
    for (byte, k) in rest.iter_mut().zip(key) {
        *byte ^= k;
    }
}

/// Masks `buf` in place as if it started at byte `offset` of a masked payload.
///
/// Use it to unmask a payload that arrives in pieces: pass the number of payload bytes
/// already unmasked as `offset`.
#[inline]
pub fn apply_mask_at(buf: &mut [u8], key: [u8; 4], offset: usize) {
    apply_mask(buf, rotate_key(key, offset));
}

/// Masks `buf` one byte at a time: the reference implementation of [`apply_mask_at`].
pub fn apply_mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in buf.iter_mut().enumerate() {
        // Wrapping is exact: 2^64 is a multiple of 4.
        *byte ^= key[offset.wrapping_add(i) % 4];
    }
}

/// Returns the key as seen from payload position `offset`.
#[expect(clippy::cast_possible_truncation, reason = "offset % 4 is below 4")]
#[inline]
fn rotate_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    // A rotation of the little-endian word, not `<[u8]>::rotate_left`: that one is an
    // out-of-line call, about 9 ns at a nonzero offset in benches/mask.rs (more than masking
    // 64 B takes), paid whenever a frame's payload arrives over several reads.
    let bits = 8 * (offset % 4) as u32;
    u32::from_le_bytes(key).rotate_right(bits).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::{ALIGN_FROM, apply_mask, apply_mask_at, apply_mask_bytewise};

    #[test]
    fn rfc_example_key_masks_hello() {
        // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
        let mut data = *b"Hello";
        apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn fast_path_equals_bytewise_for_every_length_alignment_and_offset() {
        let key = [0x12, 0x9a, 0xe7, 0x41];
        let source: Vec<u8> = (0..4200u32).map(|i| (i * 31 % 251) as u8).collect();
        // Every start alignment within a 16-byte window, every offset, and every length up to
        // 257 and on both sides of ALIGN_FROM (where masking starts at a 16-byte boundary),
        // plus a few long ones.
        let lengths = (0..=257)
            .chain(ALIGN_FROM - 40..=ALIGN_FROM + 80)
            .chain([1000, 4096, 4099]);
        // The slice is masked where it lies in a larger buffer: a copy of it would be a new,
        // aligned allocation. The bytes around it must stay untouched.
        let mut fast = source.clone();
        let mut slow = source;
        for start in 0..16 {
            for len in lengths.clone() {
                for offset in 0..4 {
                    apply_mask_at(&mut fast[start..start + len], key, offset);
                    apply_mask_bytewise(&mut slow[start..start + len], key, offset);
                    assert_eq!(fast, slow, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn bytewise_masking_wraps_at_huge_offsets() {
        let (mut fast, mut slow) = ([0u8; 6], [0u8; 6]);
        apply_mask_at(&mut fast, [1, 2, 3, 4], usize::MAX);
        apply_mask_bytewise(&mut slow, [1, 2, 3, 4], usize::MAX);
        assert_eq!(fast, slow);
        assert_eq!(slow, [4, 1, 2, 3, 4, 1]);
    }

    #[test]
    fn unmasking_in_pieces_equals_unmasking_whole() {
        let key = [1, 2, 3, 4];
        let mut whole: Vec<u8> = (0..100u8).collect();
        let mut pieces = whole.clone();
        apply_mask(&mut whole, key);
        let mut done = 0;
        for size in [1, 7, 3, 13, 76] {
            apply_mask_at(&mut pieces[done..done + size], key, done);
            done += size;
        }
        assert_eq!(pieces, whole);
    }
}
