#!/usr/bin/env bash
# benches/compare.sh: lapps beside native WebSocket echo servers, in one markdown table.
#
# Usage (from anywhere in the checkout):
#
#   benches/compare.sh                                   # every scenario, 3 rounds of 10 s
#   ROUNDS=5 DURATION=20 benches/compare.sh 100x64       # one scenario, longer
#   benches/compare.sh 500x16k tls100x64                 # scenarios are optional arguments
#
# Scenarios (N connections x message size, binary messages, closed loop):
#
#   100x64     100 x 64 B      lapps-raw, lapps-lapps, tungstenite, fastwebsockets
#   500x64     500 x 64 B      the same four
#   500x16k    500 x 16384 B   the same four
#   tls100x64  100 x 64 B      over wss://: lapps-tls, tungstenite-tls
#
# Servers: lapps-raw is `lapps run` with benches/conf/lapps.toml (one worker; the Lua echo of
# examples/apps at /echo), lapps-lapps the same server's LAppS-protocol echo_lapps driven with
# `--protocol lapps`, lapps-tls the same with `tls = true`; tungstenite, fastwebsockets and
# tungstenite-tls are the peers of benches/peers. Each run starts its server afresh pinned to
# SERVER_CPU, waits for its `listening on` line, runs `lapps-load echo` pinned to CLIENT_CPU
# and kills the server. Within a scenario the servers alternate (A B C D, A B C D, ...), so a
# ratio is taken between runs seconds apart, round by round, and its median is reported.
#
# Environment:
#
#   ROUNDS=3          rounds per scenario
#   DURATION=10       seconds measured per run (lapps-load -d)
#   WARMUP=2          seconds of warm-up before each measurement (lapps-load --warmup)
#   SERVER_CPU=0      core the server is pinned to
#   CLIENT_CPU=1      core lapps-load is pinned to
#   RESULTS=FILE      where the raw JSON lines go (default: TARGET/compare/results-DATE.jsonl)
#   BUILD=0           skip `cargo build --release` (the binaries must exist)
#   CARGO_TARGET_DIR  honoured, as cargo does
#
# Standard output is the markdown to paste into docs/performance.md: the table, the machine,
# the date and the commit. Progress and server logs go to standard error. Needs bash, cargo,
# python3 (for the JSON; jq is not needed), openssl and taskset.

set -euo pipefail

readonly ALL_SCENARIOS=(100x64 500x64 500x16k tls100x64)
readonly PLAIN_SERVERS=(lapps-raw lapps-lapps tungstenite fastwebsockets)
readonly TLS_SERVERS=(lapps-tls tungstenite-tls)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BUILD=${BUILD:-1}
# Seconds a server may take to print its `listening on` line.
readonly ANNOUNCE_TIMEOUT=60

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly repo
readonly conf="$repo/benches/conf/lapps.toml"

log() { printf '%s\n' "$*" >&2; }
die() {
    log "compare.sh: $*"
    exit 1
}

# --- arguments --------------------------------------------------------------------------------

scenarios=("$@")
if ((${#scenarios[@]} == 0)); then
    scenarios=("${ALL_SCENARIOS[@]}")
fi
for s in "${scenarios[@]}"; do
    case $s in
    100x64 | 500x64 | 500x16k | tls100x64) ;;
    -h | --help)
        sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) die "unknown scenario '$s' (known: ${ALL_SCENARIOS[*]})" ;;
    esac
done
for v in ROUNDS DURATION WARMUP SERVER_CPU CLIENT_CPU; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, not '${!v}'"
done
((ROUNDS >= 1)) || die "ROUNDS must be at least 1"
for tool in cargo python3 openssl taskset; do
    command -v "$tool" >/dev/null || die "$tool is required"
done

# --- state and cleanup ------------------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/lapps-compare.XXXXXX")
server_pid=""
client_pid=""
failures=0

stop_server() {
    [[ -n $server_pid ]] || return 0
    local pid=$server_pid
    server_pid=""
    kill -TERM "$pid" 2>/dev/null || return 0
    # lapps drains on SIGTERM; give it a moment, then make sure.
    local i
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    if [[ -n $client_pid ]]; then
        kill -KILL "$client_pid" 2>/dev/null || true
        wait "$client_pid" 2>/dev/null || true
    fi
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build ------------------------------------------------------------------------------------

cd "$repo"
if [[ $BUILD != 0 ]]; then
    log "building (release): lapps-cli lapps-bench lapps-bench-peers"
    cargo build --release -p lapps-cli -p lapps-bench -p lapps-bench-peers >&2
fi
target=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target/release"
for b in lapps lapps-load peer-tungstenite peer-fastwebsockets peer-tungstenite-tls; do
    [[ -x $bin/$b ]] || die "$bin/$b is missing (run without BUILD=0)"
done

# Other work on the machine skews the numbers; the report shows how busy it was.
load_before=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)
stamp=$(date -u +%Y%m%d-%H%M%S)
results=${RESULTS:-$target/compare/results-$stamp.jsonl}
mkdir -p "$(dirname "$results")"
: >"$results"

# --- the throwaway certificate and lapps's home -----------------------------------------------

# A self-signed leaf for 127.0.0.1 and localhost. CA:FALSE, because webpki (rustls) refuses a CA
# certificate as a server's end-entity certificate, and lapps-load trusts it through --ca.
cat >"$work/cert.cnf" <<'EOF'
[req]
distinguished_name = dn
x509_extensions = leaf
prompt = no
[dn]
CN = localhost
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
EOF
openssl req -x509 -config "$work/cert.cnf" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -nodes -days 2 -keyout "$work/key.pem" -out "$work/cert.pem" 2>"$work/openssl.log" ||
    die "openssl could not make the certificate: $(cat "$work/openssl.log")"

# LAPPS_HOME is a scratch directory whose apps/ is examples/apps: the code is the examples',
# and the deploy/ and tmp/ directories lapps creates stay out of the checkout.
mkdir -p "$work/home"
ln -s "$repo/examples/apps" "$work/home/apps"
lapps_env=(
    "LAPPS_HOME=$work/home"
    "LAPPS_TLS_CERTIFICATES__CERT=$work/cert.pem"
    "LAPPS_TLS_CERTIFICATES__KEY=$work/key.pem"
)
env "${lapps_env[@]}" "$bin/lapps" check --config "$conf" >"$work/check.log" 2>&1 ||
    die "lapps check failed on $conf: $(cat "$work/check.log")"

# --- one run ----------------------------------------------------------------------------------

# start_server NAME LOG: starts NAME pinned to SERVER_CPU; sets server_pid and server_url (the
# announced ws:// or wss:// address plus the server's path).
start_server() {
    local name=$1 logfile=$2 path=/
    local cmd
    case $name in
    lapps-raw) cmd=(env "${lapps_env[@]}" "$bin/lapps" run --config "$conf") path=/echo ;;
    lapps-lapps) cmd=(env "${lapps_env[@]}" "$bin/lapps" run --config "$conf") path=/echo_lapps ;;
    lapps-tls) cmd=(env "${lapps_env[@]}" LAPPS_TLS=true "$bin/lapps" run --config "$conf") path=/echo ;;
    tungstenite) cmd=("$bin/peer-tungstenite" 127.0.0.1:0) ;;
    fastwebsockets) cmd=("$bin/peer-fastwebsockets" 127.0.0.1:0) ;;
    tungstenite-tls) cmd=("$bin/peer-tungstenite-tls" 127.0.0.1:0 "$work/cert.pem" "$work/key.pem") ;;
    *) die "no server named $name" ;;
    esac
    : >"$logfile" # before the server opens it, so the wait below can read it at once
    taskset -c "$SERVER_CPU" "${cmd[@]}" 2>"$logfile" &
    server_pid=$!
    local i addr=""
    for ((i = 0; i < ANNOUNCE_TIMEOUT * 20; i++)); do
        addr=$(sed -n 's/^.*listening on \(wss\{0,1\}:\/\/[^ ]*\).*$/\1/p' "$logfile" | head -n 1)
        [[ -z $addr ]] || break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    if [[ -z $addr ]]; then
        log "$name did not announce its address; its log:"
        tail -n 20 "$logfile" >&2
        stop_server
        return 1
    fi
    server_url="$addr$path"
}

# run_one SCENARIO SERVER ROUND CONNECTIONS SIZE: one measurement, appended to $results.
run_one() {
    local scenario=$1 name=$2 round=$3 conns=$4 size=$5
    local slog="$work/$scenario-$name-$round.server.log" clog="$work/client.log"
    local args=(-c "$conns" -s "$size" -d "$DURATION" --warmup "$WARMUP" --quiet)
    case $name in
    lapps-lapps) args+=(--protocol lapps) ;;
    *-tls) args+=(--ca "$work/cert.pem") ;;
    esac
    local line="" status=ok
    if start_server "$name" "$slog"; then
        # In the background, so that a signal's trap runs at once rather than after the run.
        taskset -c "$CLIENT_CPU" "$bin/lapps-load" echo "$server_url" "${args[@]}" \
            >"$work/client.out" 2>"$clog" &
        client_pid=$!
        local client_status=0
        wait "$client_pid" || client_status=$?
        client_pid=""
        line=$(tail -n 1 "$work/client.out")
        if ((client_status != 0)) || [[ $line != '{'* ]]; then
            status=failed
            log "  lapps-load failed against $name ($server_url); its stderr:"
            tail -n 20 "$clog" >&2
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            status=failed
            log "  $name exited during the run; its log:"
            tail -n 20 "$slog" >&2
        fi
        stop_server
    else
        status=failed
    fi
    if [[ $status != ok ]]; then
        failures=$((failures + 1))
        [[ $line == '{'* ]] || line=null
    fi
    # The load generator's line is kept byte for byte under "load".
    printf '{"scenario":"%s","server":"%s","round":%d,"status":"%s","load":%s}\n' \
        "$scenario" "$name" "$round" "$status" "$line" >>"$results"
    if [[ $status == ok ]]; then
        python3 - "$line" >&2 <<'EOF' || true
import json, sys
r = json.loads(sys.argv[1])
print(f"  {r['msgs_per_sec']:>12,.0f} msgs/s  p50 {r['p50_us']} us  p99 {r['p99_us']} us"
      f"  errors {r['errors']}")
EOF
    fi
}

# --- the runs ---------------------------------------------------------------------------------

for scenario in "${scenarios[@]}"; do
    case $scenario in
    100x64) conns=100 size=64 servers=("${PLAIN_SERVERS[@]}") ;;
    500x64) conns=500 size=64 servers=("${PLAIN_SERVERS[@]}") ;;
    500x16k) conns=500 size=16384 servers=("${PLAIN_SERVERS[@]}") ;;
    tls100x64) conns=100 size=64 servers=("${TLS_SERVERS[@]}") ;;
    esac
    for ((round = 1; round <= ROUNDS; round++)); do
        for name in "${servers[@]}"; do
            log "[$scenario round $round/$ROUNDS] $name"
            run_one "$scenario" "$name" "$round" "$conns" "$size"
        done
    done
done

# --- the report -------------------------------------------------------------------------------

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
    commit="$commit (with uncommitted changes)"
fi
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)

python3 - "$results" <<'EOF'
import json
import statistics
import sys

BASELINE = {"tls100x64": "tungstenite-tls"}  # every other scenario: tungstenite

runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
scenarios = list(dict.fromkeys(r["scenario"] for r in runs))


def rate(scenario, server, round_):
    for r in runs:
        if (r["scenario"], r["server"], r["round"]) == (scenario, server, round_):
            if r["status"] == "ok":
                return r["load"]["msgs_per_sec"]
    return None


def ratio(scenario, server, against):
    """Median of the per-round ratios: each from two runs seconds apart."""
    rounds = sorted({r["round"] for r in runs if r["scenario"] == scenario})
    ratios = []
    for n in rounds:
        a, b = rate(scenario, server, n), rate(scenario, against, n)
        if a is not None and b:
            ratios.append(a / b)
    return f"{statistics.median(ratios):.2f}" if ratios else "n/a"


print("| scenario | server | msgs/s (median) | min–max | p50 µs | p99 µs | errors "
      "| vs tungstenite | vs lapps-raw |")
print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
for scenario in scenarios:
    servers = list(dict.fromkeys(r["server"] for r in runs if r["scenario"] == scenario))
    baseline = BASELINE.get(scenario, "tungstenite")
    for server in servers:
        mine = [r for r in runs if (r["scenario"], r["server"]) == (scenario, server)]
        ok = [r["load"] for r in mine if r["status"] == "ok"]
        failed = len(mine) - len(ok)
        if not ok:
            print(f"| {scenario} | {server} | failed | | | | | | |")
            continue
        rates = [x["msgs_per_sec"] for x in ok]
        p50 = statistics.median(x["p50_us"] for x in ok)
        p99 = statistics.median(x["p99_us"] for x in ok)
        errors = sum(x["errors"] for x in ok)
        note = f" ({failed} of {len(mine)} runs failed)" if failed else ""
        vs_base = "1" if server == baseline else ratio(scenario, server, baseline)
        vs_raw = ratio(scenario, server, "lapps-raw") if server == "lapps-lapps" else ""
        print(f"| {scenario} | {server} | {statistics.median(rates):,.0f}{note} "
              f"| {min(rates):,.0f}–{max(rates):,.0f} | {p50:,.0f} | {p99:,.0f} | {errors} "
              f"| {vs_base} | {vs_raw} |")
EOF

cat <<EOF

Rounds: $ROUNDS per scenario, servers alternating within each round; each run ${DURATION} s after
${WARMUP} s of warm-up; binary messages; server pinned to CPU $SERVER_CPU, \`lapps-load\` to CPU
$CLIENT_CPU; lapps with one worker (\`benches/conf/lapps.toml\`), the peers on one
current-thread tokio runtime. Ratios are medians of per-round ratios (tls100x64: against
tungstenite-tls).

- Machine: $(nproc) cores, ${cpu:-unknown CPU}, Linux $(uname -r)
- Load average before the runs (1, 5, 15 min): $load_before
- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Commit: $commit
- Command: \`ROUNDS=$ROUNDS DURATION=$DURATION benches/compare.sh${*:+ $*}\`
- Raw results: \`$results\`
EOF

if ((failures > 0)); then
    die "$failures run(s) failed; see above and $results"
fi
