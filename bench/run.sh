#!/usr/bin/env bash
# Runs the three workloads of ../shared/bench (transitions, datamodel,
# sessions) through `orca run`, three times each, and prints the median of
# each figure. Inputs are generated into /tmp/orca-bench (not kept in git).
#
#   bench/run.sh            # all workloads
#   RUNS=5 bench/run.sh     # more repetitions
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
shared=../shared/bench
out=/tmp/orca-bench
runs=${RUNS:-3}
cargo build --release -q -p orca
orca=${CARGO_TARGET_DIR:-target}/release/orca

[ -f $out/transitions.jsonl ] || python3 $shared/transitions/gen-events.py >/dev/null
[ -f $out/datamodel.jsonl ] || python3 $shared/datamodel/gen-events.py >/dev/null
[ -f $out/sessions.jsonl ] || python3 $shared/sessions/gen-events.py >/dev/null

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }

for w in transitions datamodel; do
    rates=""; hwm=""
    for _ in $(seq "$runs"); do
        stats=$("$orca" run $shared/$w/CHART.scxml --events $out/$w.jsonl --stats 2>&1 >/tmp/orca-bench/$w.out | tail -1)
        python3 - "$out/$w.jsonl.expected" /tmp/orca-bench/$w.out <<'PY'
import json, sys
expected = json.load(open(sys.argv[1]))
lines = [json.loads(l) for l in open(sys.argv[2])]
logs = {l["label"]: l["value"] for l in lines if l["type"] == "log"}
last = lines[-1]
assert last == {"type": "done", "final": "done", "states": ["done"]}, last
for label, value in expected.items():
    assert logs.get(label) == value, (label, logs.get(label), value)
PY
        rates+="$(echo "$stats" | field events_per_second)"$'\n'
        hwm+="$(echo "$stats" | field vm_hwm_kib)"$'\n'
    done
    printf '%-12s %10.0f events/s   peak RSS %s KiB   (median of %s, output checked)\n' \
        "$w" "$(printf '%s' "$rates" | median)" "$(printf '%s' "$hwm" | median)" "$runs"
done

rates=""
for _ in $(seq "$runs"); do
    line=$("$orca" run $shared/sessions/CHART.scxml --events $out/sessions.jsonl --sessions)
    rates+="$(echo "$line" | field sessions_per_second)"$'\n'
done
printf '%-12s %10.0f sessions/s (sequential, median of %s)\n' sessions "$(printf '%s' "$rates" | median)" "$runs"

rates=""; kib=""
for _ in $(seq "$runs"); do
    line=$("$orca" run $shared/sessions/CHART.scxml --events $out/sessions.jsonl --sessions --live)
    rates+="$(echo "$line" | field sessions_per_second)"$'\n'
    kib+="$(echo "$line" | field kib_per_live_session)"$'\n'
done
printf '%-12s %10.0f sessions/s, %.1f KiB per live idle session at 10,000 sessions (--live, median of %s)\n' \
    sessions "$(printf '%s' "$rates" | median)" "$(printf '%s' "$kib" | median)" "$runs"
