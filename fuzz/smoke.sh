#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target, then runs each for N seconds (default 20,
# or $1) starting from its committed seeds in seeds/<target>/. Exits non-zero if any target
# finds a crash, a leak or a timeout; the failing input is left in artifacts/<target>/.
#
# Runs on the stable toolchain: cargo-fuzz needs nightly flags (-Zsanitizer), which
# RUSTC_BOOTSTRAP=1 unlocks, as in rustls's CI. Installs cargo-fuzz if it is missing.
set -euo pipefail

secs="${1:-20}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: $0 [seconds per target, default 20]" >&2
    exit 2
fi

cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
start=$SECONDS

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

# The committed Cargo.lock must be up to date (cargo fuzz has no --locked of its own).
cargo fetch --locked --quiet
echo "== building fuzz targets"
cargo fuzz build
echo "== build: $((SECONDS - start)) s"

# A fresh corpus per run, so every run starts from the seeds alone; new inputs found go there
# (libFuzzer writes to the first corpus directory), never into seeds/.
work="target/smoke-corpus"
rm -rf "$work"
failed=()
for target in $(cargo fuzz list); do
    mkdir -p "$work/$target" "seeds/$target"
    log="$work/$target.log"
    t0=$SECONDS
    if cargo fuzz run "$target" "$work/$target" "seeds/$target" -- \
        -max_total_time="$secs" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        runs=$(grep -Eo '^Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' || echo '?')
        cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 || true)
        echo "ok    $target: $((SECONDS - t0)) s, $runs runs, $cov"
    else
        echo "FAIL  $target: $((SECONDS - t0)) s; its log without progress lines and stack frames:"
        # The panic message, libFuzzer's summary, and the input (also as Base64, since CI
        # keeps no artifacts).
        grep -Ev '^#[0-9]|^[[:space:]]+#?[0-9]+[: ]|^[[:space:]]+at ' "$log" | tail -n 60
        failed+=("$target")
    fi
done

echo "== fuzz smoke total: $((SECONDS - start)) s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashing targets: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
