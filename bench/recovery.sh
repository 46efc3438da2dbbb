#!/usr/bin/env bash
# Measures recovery with and without journal snapshots: a real `orca serve`
# gets SESSIONS sessions of bench/charts/ping.scxml and EVENTS events each
# (crates/server/examples/loadgen.rs), is SIGKILLed and restarted on the
# same data directory; the time until /ready answers 200 (every worker has
# re-created its sessions) is measured with ORCA_JOURNAL_SNAPSHOT_EVERY=0
# (every record replayed) and =EVERY, with the records replayed at
# recovery (orca_recovery_records_replayed_total) and the snapshots
# restored. Settings, with their defaults:
#
#   SESSIONS=2000 EVENTS=200 EVERY=64 CONCURRENCY=64 PORT=7392 \
#   WORK=/tmp/orca-bench-recovery bench/recovery.sh
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
sessions=${SESSIONS:-2000}
events=${EVENTS:-200}
every=${EVERY:-64}
concurrency=${CONCURRENCY:-64}
port=${PORT:-7392}
work=${WORK:-/tmp/orca-bench-recovery}
. bench/lib.sh
row() { printf '| %-44s | %12s | %16s | %10s | %10s |\n' "$@"; }

results=()
for n in 0 "$every"; do
    data=$work/data-$n
    serve "$data" ORCA_JOURNAL_SNAPSHOT_EVERY=$n
    "$loadgen" ready "$url" >/dev/null
    "$loadgen" start "$url" --src "$charts/ping.scxml" --count "$sessions" \
        --concurrency "$concurrency" --ids "$work/ids" >/dev/null
    "$loadgen" events "$url" --ids "$work/ids" --count $((sessions * events)) \
        --concurrency "$concurrency" >/dev/null
    stored=$(metric 'orca_journal_snapshots_total{result="stored"}')
    kill -KILL "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    journal_mib=$(du -m "$data/journal.db" "$data/journal.db-wal" 2>/dev/null | awk '{s += $1} END {print s}')
    serve "$data" ORCA_JOURNAL_SNAPSHOT_EVERY=$n
    line=$("$loadgen" ready "$url" --timeout 600)
    live=$(metric orca_sessions_active)
    if [ "$live" != "$sessions" ]; then
        echo "recovery: $live sessions live, expected $sessions" >&2
        exit 1
    fi
    id=$(head -1 "$work/ids")
    count=$(curl -s "$url/scxml/session/$id/query" | python3 -c "import json,sys; print(json.load(sys.stdin)['data']['count'])")
    if [ "$count" != "$events" ]; then
        echo "recovery: session $id counted $count events, expected $events" >&2
        exit 1
    fi
    results+=("$(row "snapshot every $n records (${stored:-0} stored)" \
        "$(echo "$line" | field seconds) s" \
        "$(metric orca_recovery_records_replayed_total)" \
        "$(metric orca_recovery_snapshots_restored_total)" "$journal_mib MiB")")
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=
done

echo
echo "recovery of $sessions sessions x $events events, orca serve on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
row "run" "to /ready" "records replayed" "restored" "journal"
row "---" "---" "---" "---" "---"
printf '%s\n' "${results[@]}"
