#!/usr/bin/env bash
# Runs every test of the lapps workspace: unit, property, integration, doc tests and the
# Autobahn conformance runs. Installs what the tests need and the machine lacks:
#   - kosoku (the Autobahn TestSuite driver), websockets and cbor2, from PyPI;
#   - python3 and pip themselves, from Debian, if they are missing.
# Extra arguments go to `cargo test` (for example `./test.sh -p lapps-proto`).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
    echo "test.sh: installing python3 and pip (apt-get)"
    apt-get update -qq && apt-get install -y -qq python3 python3-pip >/dev/null
fi

missing=()
python3 -c 'import kosoku' 2>/dev/null || missing+=("kosoku==0.1.0")
python3 -c 'import websockets' 2>/dev/null || missing+=("websockets")
python3 -c 'import cbor2' 2>/dev/null || missing+=("cbor2")
if ((${#missing[@]})); then
    echo "test.sh: installing ${missing[*]} (pip)"
    python3 -m pip install --quiet --disable-pip-version-check "${missing[@]}" \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${missing[@]}"
fi
# pip may put console scripts in the user base, which is not always on PATH.
PATH="$PATH:$(python3 -m site --user-base)/bin"
export PATH
command -v kosoku >/dev/null || { echo "test.sh: kosoku is not on PATH after installing it" >&2; exit 1; }

exec cargo test --workspace --all-features --locked "$@"
