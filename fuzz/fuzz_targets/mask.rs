//! The word-at-a-time mask equals the byte-at-a-time reference for any buffer, buffer
//! alignment, key and key offset, and masking twice restores the input.
#![no_main]

use lapps_proto::mask::{apply_mask, apply_mask_at, apply_mask_bytewise};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, [u8; 4], u32, &[u8])| {
    let (start, key, offset, data) = input;
    // `start` shifts the buffer against 8-byte alignment. The offset is a u32: a payload
    // offset is at most the length of one frame, and `apply_mask_bytewise` computes
    // `offset + i`, which overflows for offsets within `len` of usize::MAX.
    let start = usize::from(start % 8).min(data.len());
    let offset = offset as usize;
    let mut fast = data.to_vec();
    let mut slow = data.to_vec();
    apply_mask_at(&mut fast[start..], key, offset);
    apply_mask_bytewise(&mut slow[start..], key, offset);
    assert_eq!(fast, slow);
    apply_mask_at(&mut fast[start..], key, offset);
    assert_eq!(fast, data);
    if offset.is_multiple_of(4) {
        apply_mask(&mut fast[start..], key);
        assert_eq!(fast, slow);
    }
});
