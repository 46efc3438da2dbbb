#!/usr/bin/env bash
# Measures a real `orca serve` process over loopback with the load generator
# crates/server/examples/loadgen.rs, and prints a table:
#
#   1. events/s through /scxml/session/{id}/event/{name}, with p50/p99, on
#      EVENT_SESSIONS sessions of bench/charts/ping.scxml, journal on, then
#      journal off (ORCA_JOURNAL=false);
#   2. session starts/s, starting SESSIONS sessions of bench/charts/idle.scxml
#      (journal on), then one event to each;
#   3. the server's RSS with those SESSIONS live idle sessions;
#   4. recovery: SIGKILL, restart on the same data directory, time until
#      /ready answers 200 (it does once every worker has re-created its
#      sessions), then a check that all SESSIONS are live again.
#
# Each server starts on a fresh data directory under $WORK. Settings, with
# their defaults:
#
#   SESSIONS=100000 EVENT_SESSIONS=1000 EVENT_SECONDS=10 CONCURRENCY=64 \
#   START_CONCURRENCY=64 PORT=7391 WORK=/tmp/orca-bench-server bench/server.sh
#
# The load generator runs on the same machine as the server, on one thread.
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
sessions=${SESSIONS:-100000}
event_sessions=${EVENT_SESSIONS:-1000}
event_seconds=${EVENT_SECONDS:-10}
concurrency=${CONCURRENCY:-64}
start_concurrency=${START_CONCURRENCY:-64}
port=${PORT:-7391}
work=${WORK:-/tmp/orca-bench-server}
. bench/lib.sh
# Room for every session the benchmark starts.
export ORCA_MAX_SESSIONS=$((sessions + event_sessions + 1000))
# stop: SIGTERM (a graceful drain) and wait.
stop() {
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=
}
ready() { "$loadgen" ready "$url" --timeout 600; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status"; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }
row() { printf '| %-58s | %16s | %9s | %9s | %-11s |\n' "$@"; }

results=()
note() { results+=("$(row "$@")"); }

# --- 1. events/s, journal on and off ------------------------------------
for journal in true false; do
    serve "$work/events-$journal" ORCA_JOURNAL=$journal
    ready >/dev/null
    "$loadgen" start "$url" --src "$charts/ping.scxml" --count "$event_sessions" \
        --concurrency "$start_concurrency" --ids "$work/ping.ids" >/dev/null
    # Warm-up: connections, allocator, caches.
    "$loadgen" events "$url" --ids "$work/ping.ids" --count 20000 --concurrency "$concurrency" >/dev/null
    before=$(loadavg)
    line=$("$loadgen" events "$url" --ids "$work/ping.ids" --seconds "$event_seconds" --concurrency "$concurrency")
    after=$(loadavg)
    note "events, $event_sessions sessions, $concurrency conns, journal=$journal" \
        "$(echo "$line" | field per_second) ev/s" \
        "$(echo "$line" | field p50_ms) ms" "$(echo "$line" | field p99_ms) ms" "$before→$after"
    if [ "$journal" = true ]; then
        # Over the whole run (starts and warm-up included).
        batches=$(metric orca_journal_batch_records_count)
        records=$(metric orca_journal_batch_records_sum)
        commit=$(metric orca_journal_commit_seconds_sum)
        note "  journal commits: mean records, mean time (fsync incl.)" \
            "$(python3 -c "n = max($batches, 1); print(f'{$records / n:.1f}, {$commit * 1e3 / n:.2f} ms')")" \
            "" "" ""
    fi
    stop
done

# --- 2. starts/s, 3. memory of idle sessions ----------------------------
data=$work/idle
serve "$data"
ready >/dev/null
base=$(rss_kib)
before=$(loadavg)
line=$("$loadgen" start "$url" --src "$charts/idle.scxml" --count "$sessions" \
    --concurrency "$start_concurrency" --ids "$work/idle.ids")
after=$(loadavg)
note "session starts, $start_concurrency conns, journal=true" \
    "$(echo "$line" | field per_second) /s" \
    "$(echo "$line" | field p50_ms) ms" "$(echo "$line" | field p99_ms) ms" "$before→$after"
before=$(loadavg)
line=$("$loadgen" events "$url" --ids "$work/idle.ids" --name inc --count "$sessions" --concurrency "$concurrency")
after=$(loadavg)
note "events, one to each of $sessions sessions, journal=true" \
    "$(echo "$line" | field per_second) ev/s" \
    "$(echo "$line" | field p50_ms) ms" "$(echo "$line" | field p99_ms) ms" "$before→$after"
rss=$(rss_kib)
note "RSS with $sessions live idle sessions" "$((rss / 1024)) MiB" "" "" ""
note "  per session (RSS growth / sessions)" \
    "$(python3 -c "print(f'{($rss - $base) / $sessions:.1f} KiB')")" "" "" ""
journal_mib=$(du -m "$data/journal.db" "$data/journal.db-wal" 2>/dev/null | awk '{s += $1} END {print s}')

# --- 4. recovery after SIGKILL -------------------------------------------
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null || true
before=$(loadavg)
serve "$data"
line=$(ready)
after=$(loadavg)
live=$(metric orca_sessions_active)
if [ "$live" != "$sessions" ]; then
    echo "recovery: $live sessions live, expected $sessions" >&2
    exit 1
fi
id=$(head -1 "$work/idle.ids")
count=$(curl -s "$url/scxml/session/$id/query" | python3 -c "import json,sys; print(json.load(sys.stdin)['data']['count'])")
if [ "$count" != 1 ]; then
    echo "recovery: session $id counted $count events, expected 1" >&2
    exit 1
fi
note "recovery of $sessions sessions after SIGKILL (to /ready)" \
    "$(echo "$line" | field seconds) s" "" "" "$before→$after"
note "  journal size; RSS after recovery" "$journal_mib MiB" "$(($(rss_kib) / 1024)) MiB" "" ""
stop

echo
echo "orca serve on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
row "measurement" "rate / size" "p50" "p99" "load avg"
row "---" "---" "---" "---" "---"
printf '%s\n' "${results[@]}"
