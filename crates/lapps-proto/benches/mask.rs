//! Masking throughput (RFC 6455 §5.3): `lapps_proto::mask::apply_mask` against references.
//!
//! tungstenite 0.30 keeps its `apply_mask` private (`protocol::frame::mask` is a private
//! module), so it cannot be called here. Its masking is measured where it is reachable: in the
//! client-role group of `benches/encode.rs`. This group compares the lapps fast path with two
//! references: the byte-at-a-time loop the tests check against, and a safe port of
//! tungstenite's algorithm (XOR of whole `u32` words).
//!
//! Run with: `cargo bench -p lapps-proto --bench mask`

mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lapps_proto::mask::{apply_mask, apply_mask_at, apply_mask_bytewise};

/// Payload sizes, as in the decode and encode groups.
const SIZES: [usize; 4] = [64, 1 << 10, 16 << 10, 1 << 20];

/// A masking key with four distinct bytes, so that any misalignment would show in the tests.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn mask(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for size in SIZES {
        let mut buf = common::pseudo_random(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("lapps_apply_mask", size), |b| {
            b.iter(|| apply_mask(black_box(&mut buf), black_box(KEY)));
        });
        // A payload that arrives in pieces is unmasked from a nonzero key position.
        group.bench_function(BenchmarkId::new("lapps_apply_mask_at_3", size), |b| {
            b.iter(|| apply_mask_at(black_box(&mut buf), black_box(KEY), 3));
        });
        group.bench_function(BenchmarkId::new("u32_words_reference", size), |b| {
            b.iter(|| apply_mask_u32_words(black_box(&mut buf), black_box(KEY)));
        });
        group.bench_function(BenchmarkId::new("bytewise_reference", size), |b| {
            b.iter(|| apply_mask_bytewise(black_box(&mut buf), black_box(KEY), 0));
        });
    }
    group.finish();
}

/// tungstenite 0.30's `apply_mask_fast32` without its `unsafe` `align_to_mut`: XOR four bytes
/// at a time as a `u32`, then the tail byte by byte.
fn apply_mask_u32_words(buf: &mut [u8], key: [u8; 4]) {
    let word = u32::from_ne_bytes(key);
    let (words, rest) = buf.as_chunks_mut::<4>();
    for chunk in words {
        *chunk = (u32::from_ne_bytes(*chunk) ^ word).to_ne_bytes();
    }
    for (byte, k) in rest.iter_mut().zip(key) {
        *byte ^= k;
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = mask
}
criterion_main!(benches);
