#!/usr/bin/env bash
# benches/idle.sh: server memory per idle WebSocket connection and the connection setup rate,
# for lapps and the native peers, in one markdown table (issue 5).
#
# Usage (from anywhere in the checkout):
#
#   benches/idle.sh                              # lapps, tungstenite, fastwebsockets; 3 rounds
#   N=2000 ROUNDS=1 benches/idle.sh lapps        # one server, fewer connections
#   BUILD=0 benches/idle.sh lapps tungstenite    # servers are optional arguments
#
# Servers: lapps is `lapps run` with benches/conf/idle.toml (benches/conf/lapps.toml's one worker
# and Lua echo at /echo, with workers.max_connections raised above its default of 10000 per
# worker); tungstenite and fastwebsockets are the echo peers of benches/peers.
#
# One run: start the server pinned to SERVER_CPU and wait for its `listening on` line; one short
# echo (`lapps-load echo -c 1 -n 100`), so the allocations made on first use are done; read
# VmRSS from /proc/PID/status ("before"); start `lapps-load idle URL -c N --sources SOURCES`
# pinned to CLIENT_CPU, which prints its JSON line once every connection is open and then holds
# them (reading, so pings are answered) while its standard input stays open; SETTLE seconds
# after that line read VmRSS again ("after"); kill the server (SIGKILL: the kernel closes its
# sockets, so the TIME_WAIT sockets are on its side and not in the way of the next run's
# client), then close the client's input and wait for it. Per connection: (after - before) /
# open connections. Servers alternate within each round (A B C, A B C, ...), and the table
# gives medians over the rounds.
#
# Why 19000 and not the 50000 of issue 5: one server process holds one descriptor per
# connection, and the hard RLIMIT_NOFILE of the benchmark machines is 20000 (not raisable, even
# as root). lapps-load needs N + 32 descriptors on its side too (benches/README.md, "Limits").
# VmRSS counts the process's memory only: the kernel's socket buffers are not in it.
#
# Huge pages: the lapps binary's allocator, mimalloc, asks for transparent huge pages for its
# heap, so lapps's RSS moves in steps of 2 MiB, 110 B per connection at N=19000 (more at
# smaller N): differences below that are noise. And mimalloc gives freed pages back only
# after a delay, on a later call, which an idle server does not make: the figure includes some
# memory the handshakes used on the way (MIMALLOC_PURGE_DELAY=0 showed 150 B per connection
# less at N=19000).
#
# Environment:
#
#   N=19000           connections held per run
#   ROUNDS=3          rounds (each runs every server once)
#   SOURCES=4         lapps-load --sources: source addresses 127.0.0.1..K, for ephemeral ports
#   CONCURRENCY=256   lapps-load --concurrency: handshakes in flight while connecting
#   SETTLE=1          seconds between the client's JSON line and the second VmRSS reading
#   SERVER_CPU=0      core the server is pinned to
#   CLIENT_CPU=1      core lapps-load is pinned to
#   SERVER_ENV=''     NAME=VALUE words set in every server's environment, for experiments such
#                     as SERVER_ENV='MIMALLOC_ALLOW_THP=0' (see the note on huge pages above)
#   RESULTS=FILE      where the raw JSON lines go (default: TARGET/idle/results-DATE.jsonl)
#   BUILD=0           skip `cargo build --release` (the binaries must exist)
#   LAPPS=FILE        the lapps binary to measure instead of the one built (another commit's,
#                     another allocator's); lapps-load and the peers still come from the build
#   CARGO_TARGET_DIR  honoured, as cargo does
#
# Standard output is the markdown to paste into docs/performance.md: the table, the machine,
# the date and the commit. Progress and server logs go to standard error. Needs bash, cargo,
# python3 (for the JSON; jq is not needed) and taskset.

set -euo pipefail

readonly ALL_SERVERS=(lapps tungstenite fastwebsockets)

N=${N:-19000}
ROUNDS=${ROUNDS:-3}
SOURCES=${SOURCES:-4}
CONCURRENCY=${CONCURRENCY:-256}
SETTLE=${SETTLE:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BUILD=${BUILD:-1}
# Seconds a server may take to print its `listening on` line, and all connections to open.
readonly ANNOUNCE_TIMEOUT=60
readonly OPEN_TIMEOUT=120
# The client's own limit on holding, should this script die without closing its input.
readonly HOLD_LIMIT=600

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly repo
readonly conf="$repo/benches/conf/idle.toml"

log() { printf '%s\n' "$*" >&2; }
die() {
    log "idle.sh: $*"
    exit 1
}

# --- arguments --------------------------------------------------------------------------------

servers=("$@")
if ((${#servers[@]} == 0)); then
    servers=("${ALL_SERVERS[@]}")
fi
for s in "${servers[@]}"; do
    case $s in
    lapps | tungstenite | fastwebsockets) ;;
    -h | --help)
        sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) die "unknown server '$s' (known: ${ALL_SERVERS[*]})" ;;
    esac
done
for v in N ROUNDS SOURCES CONCURRENCY SETTLE SERVER_CPU CLIENT_CPU; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, not '${!v}'"
done
((N >= 1 && ROUNDS >= 1 && SOURCES >= 1 && CONCURRENCY >= 1)) ||
    die "N, ROUNDS, SOURCES and CONCURRENCY must be at least 1"
for tool in cargo python3 taskset; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
read -ra server_env <<<"${SERVER_ENV:-}"
for word in "${server_env[@]}"; do
    [[ $word == [A-Za-z_]*=* ]] || die "SERVER_ENV words must be NAME=VALUE, not '$word'"
done
nofile=$(ulimit -n)
if [[ $nofile != unlimited ]] && ((N + 64 > nofile)); then
    die "N=$N connections need about $((N + 64)) file descriptors per process, but ulimit -n is $nofile"
fi

# --- state and cleanup ------------------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/lapps-idle.XXXXXX")
server_pid=""
client_pid=""
holding=0
failures=0

# Closes the client's standard input: lapps-load idle then drops its connections and exits.
release_client() {
    if ((holding)); then
        exec 3>&-
        holding=0
    fi
}

stop_client() {
    release_client
    [[ -n $client_pid ]] || return 0
    local pid=$client_pid i
    client_pid=""
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Kills the server at once: its sockets are closed by the kernel, from the server's side
# (see run_one). lapps's graceful shutdown would send every connection a Close, which the
# client answers by closing first, and the TIME_WAIT sockets would be the client's.
stop_server() {
    [[ -n $server_pid ]] || return 0
    local pid=$server_pid
    server_pid=""
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    stop_client
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
for b in lapps lapps-load peer-tungstenite peer-fastwebsockets; do
    [[ -x $bin/$b ]] || die "$bin/$b is missing (run without BUILD=0)"
done
lapps=${LAPPS:-$bin/lapps}
[[ -x $lapps ]] || die "LAPPS=$lapps is not an executable"

# Other work on the machine skews the connection rates; the report shows how busy it was.
load_before=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)
stamp=$(date -u +%Y%m%d-%H%M%S)
results=${RESULTS:-$target/idle/results-$stamp.jsonl}
mkdir -p "$(dirname "$results")"
: >"$results"

# LAPPS_HOME is a scratch directory whose apps/ is examples/apps: the code is the examples',
# and the deploy/ and tmp/ directories lapps creates stay out of the checkout.
mkdir -p "$work/home"
ln -s "$repo/examples/apps" "$work/home/apps"
lapps_env=("LAPPS_HOME=$work/home")
env "${lapps_env[@]}" "$lapps" check --config "$conf" >"$work/check.log" 2>&1 ||
    die "lapps check failed on $conf: $(cat "$work/check.log")"
mkfifo "$work/hold"

# --- one run ----------------------------------------------------------------------------------

# start_server NAME LOG: starts NAME pinned to SERVER_CPU; sets server_pid and server_url (the
# announced ws:// address plus the echo path).
start_server() {
    local name=$1 logfile=$2 path=/
    local cmd
    case $name in
    lapps) cmd=("${lapps_env[@]}" "$lapps" run --config "$conf") path=/echo ;;
    tungstenite) cmd=("$bin/peer-tungstenite" 127.0.0.1:0) ;;
    fastwebsockets) cmd=("$bin/peer-fastwebsockets" 127.0.0.1:0) ;;
    *) die "no server named $name" ;;
    esac
    cmd=(env "${server_env[@]}" "${cmd[@]}")
    : >"$logfile" # before the server opens it, so the wait below can read it at once
    # taskset and env exec what they run: $! is the server's own process id.
    taskset -c "$SERVER_CPU" "${cmd[@]}" 2>"$logfile" &
    server_pid=$!
    local i addr=""
    for ((i = 0; i < ANNOUNCE_TIMEOUT * 20; i++)); do
        addr=$(sed -n 's/^.*listening on \(ws:\/\/[^ ]*\).*$/\1/p' "$logfile" | head -n 1)
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

# rss PID FIELD: FIELD (VmRSS, RssAnon) of /proc/PID/status in KiB.
rss() {
    sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB$/\1/p" "/proc/$1/status" 2>/dev/null || true
}

# cpu_ns PID: CPU time of all of PID's threads so far, in nanoseconds (the first field of each
# thread's schedstat; threads that already ended are not counted).
cpu_ns() {
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ t += $1 } END { printf "%d\n", t }'
}

# run_one SERVER ROUND: one measurement, appended to $results.
run_one() {
    local name=$1 round=$2
    local slog="$work/$name-$round.server.log" clog="$work/$name-$round.client.log"
    local out="$work/client.out"
    local line="" status=ok before="" after="" anon_before="" anon_after=""
    local server_cpu=null client_cpu=null
    if ! start_server "$name" "$slog"; then
        failures=$((failures + 1))
        printf '{"server":"%s","round":%d,"status":"failed","load":null}\n' "$name" "$round" >>"$results"
        return 0
    fi
    # The warm-up: one connection, 100 round trips.
    if ! taskset -c "$CLIENT_CPU" "$bin/lapps-load" echo "$server_url" -c 1 -n 100 --quiet \
        >/dev/null 2>"$clog"; then
        status=failed
        log "  the warm-up echo failed against $name; its stderr:"
        tail -n 20 "$clog" >&2
    fi
    sleep 0.2
    before=$(rss "$server_pid" VmRSS)
    anon_before=$(rss "$server_pid" RssAnon)
    if [[ $status == ok ]]; then
        : >"$out"
        # The client holds its connections until its standard input, the fifo, closes. The
        # fifo's writer (fd 3) is opened after the client starts, as opening either end waits
        # for the other.
        local server_cpu_start
        server_cpu_start=$(cpu_ns "$server_pid")
        taskset -c "$CLIENT_CPU" "$bin/lapps-load" idle "$server_url" -c "$N" \
            --sources "$SOURCES" --concurrency "$CONCURRENCY" --hold "$HOLD_LIMIT" --quiet \
            <"$work/hold" >"$out" 2>"$clog" &
        client_pid=$!
        exec 3>"$work/hold"
        holding=1
        local i
        for ((i = 0; i < OPEN_TIMEOUT * 20; i++)); do
            line=$(grep -m 1 '^{' "$out" || true)
            [[ -z $line ]] || break
            kill -0 "$client_pid" 2>/dev/null || break
            sleep 0.05
        done
        if [[ -n $line ]]; then
            # CPU seconds of the connect phase (plus up to 50 ms of polling), on each side: the
            # side near 100% of the phase's duration is the one that limits the rate.
            server_cpu=$(($(cpu_ns "$server_pid") - server_cpu_start))
            client_cpu=$(cpu_ns "$client_pid")
            sleep "$SETTLE"
            after=$(rss "$server_pid" VmRSS)
            anon_after=$(rss "$server_pid" RssAnon)
        fi
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        status=failed
        log "  $name exited during the run; its log:"
        tail -n 20 "$slog" >&2
    fi
    # The server goes first, so that the TIME_WAIT sockets are the server's: left on the
    # client's side, tens of thousands of them slow down the next run's binds to its source
    # addresses, and so its connection rate, to a fraction.
    stop_server
    if [[ -n $client_pid ]]; then
        release_client
        local client_status=0
        wait "$client_pid" || client_status=$?
        client_pid=""
        if [[ $line != '{'* ]] || [[ -z $after ]]; then
            status=failed
            log "  lapps-load idle failed against $name ($server_url) (exit $client_status); its stderr:"
            tail -n 20 "$clog" >&2
        elif ((client_status != 0)); then
            # The JSON line is there: connections that failed to open are counted in errors.
            log "  lapps-load idle exited with $client_status against $name; its stderr:"
            tail -n 5 "$clog" >&2
        fi
    fi
    if [[ $status != ok ]]; then
        failures=$((failures + 1))
        [[ $line == '{'* ]] || line=null
    fi
    # The load generator's line is kept byte for byte under "load"; RSS figures are KiB.
    printf '{"server":"%s","round":%d,"status":"%s","rss_before_kib":%s,"rss_after_kib":%s,"anon_before_kib":%s,"anon_after_kib":%s,"server_cpu_ns":%s,"client_cpu_ns":%s,"load":%s}\n' \
        "$name" "$round" "$status" "${before:-null}" "${after:-null}" "${anon_before:-null}" \
        "${anon_after:-null}" "$server_cpu" "$client_cpu" "$line" >>"$results"
    if [[ $status == ok ]]; then
        python3 - "$before" "$after" "$server_cpu" "$client_cpu" "$line" >&2 <<'EOF' || true
import json, sys
before, after, server, client = (int(x) for x in sys.argv[1:5])
r = json.loads(sys.argv[5])
per = (after - before) * 1024 / r["open"] if r["open"] else float("nan")
print(f"  RSS {before:,} -> {after:,} KiB: {per:,.0f} B per connection ({r['open']:,} open);"
      f"  {r['connect_per_sec']:,.0f} connections/s in {r['seconds']} s, CPU server"
      f" {server / 1e9:.3f} s, client {client / 1e9:.3f} s;  errors {r['errors']}")
EOF
    fi
}

# --- the runs ---------------------------------------------------------------------------------

for ((round = 1; round <= ROUNDS; round++)); do
    for name in "${servers[@]}"; do
        log "[round $round/$ROUNDS] $name: $N idle connections"
        run_one "$name" "$round"
    done
done

# --- the report -------------------------------------------------------------------------------

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
    commit="$commit (with uncommitted changes)"
fi
env_prefix=""
if [[ -n ${SERVER_ENV:-} ]]; then
    env_prefix="SERVER_ENV='$SERVER_ENV' "
fi
if [[ -n ${LAPPS:-} ]]; then
    env_prefix+="LAPPS=$LAPPS "
fi
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)

python3 - "$results" <<'EOF'
import json
import statistics
import sys

runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
servers = list(dict.fromkeys(r["server"] for r in runs))

print("| server | open | RSS before KiB | RSS after KiB | B per connection (median) | min–max "
      "| connections/s (median) | min–max | server CPU µs per connection | client CPU µs per "
      "connection | errors |")
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
for server in servers:
    mine = [r for r in runs if r["server"] == server]
    ok = [r for r in mine if r["status"] == "ok" and r["load"]["open"] > 0]
    failed = len(mine) - len(ok)
    if not ok:
        print(f"| {server} | failed | | | | | | | | | |")
        continue
    per = [(r["rss_after_kib"] - r["rss_before_kib"]) * 1024 / r["load"]["open"] for r in ok]
    rates = [r["load"]["connect_per_sec"] for r in ok]
    opened = statistics.median(r["load"]["open"] for r in ok)
    before = statistics.median(r["rss_before_kib"] for r in ok)
    after = statistics.median(r["rss_after_kib"] for r in ok)
    errors = sum(r["load"]["errors"] for r in ok)
    # CPU time of the connect phase per connection opened, in µs.
    server_us = statistics.median(r["server_cpu_ns"] / 1e3 / r["load"]["open"] for r in ok)
    client_us = statistics.median(r["client_cpu_ns"] / 1e3 / r["load"]["open"] for r in ok)
    note = f" ({failed} of {len(mine)} runs failed)" if failed else ""
    print(f"| {server} | {opened:,.0f} | {before:,.0f} | {after:,.0f} "
          f"| {statistics.median(per):,.0f}{note} | {min(per):,.0f}–{max(per):,.0f} "
          f"| {statistics.median(rates):,.0f} | {min(rates):,.0f}–{max(rates):,.0f} "
          f"| {server_us:.1f} | {client_us:.1f} | {errors} |")
EOF

cat <<EOF

Rounds: $ROUNDS, servers alternating within each round; each run holds $N plain (ws://) idle
connections opened by \`lapps-load idle --sources $SOURCES --concurrency $CONCURRENCY\`. VmRSS of
the server after a 100-message echo warm-up (before) and ${SETTLE} s after the last connection
opened (after); B per connection = (after − before) / open; kernel socket memory is not in
VmRSS. CPU µs per connection: each side's CPU time during the connect phase (all threads, from
schedstat) over the connections opened. One core at that cost opens at most 1,000,000 / µs
connections per second, so the larger of the two bounds the rate; a rate well below that bound
means the cores were busy with other work. On loopback, part of the TCP work is charged to
whichever side sent the packet. Server pinned to CPU $SERVER_CPU, \`lapps-load\` to CPU
$CLIENT_CPU; lapps with one worker (\`benches/conf/idle.toml\`), the peers on one
current-thread tokio runtime. $N connections rather than issue 5's 50,000: the open file limit
is $(ulimit -Hn) (hard) per process.

- Machine: $(nproc) cores, ${cpu:-unknown CPU}, Linux $(uname -r)
- Load average before the runs (1, 5, 15 min): $load_before
- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Commit: $commit
- Command: \`${env_prefix}N=$N ROUNDS=$ROUNDS benches/idle.sh${*:+ $*}\`
- Raw results: \`$results\`
EOF

if ((failures > 0)); then
    die "$failures run(s) failed; see above and $results"
fi
