# Shared by the benchmarks that drive a real `orca serve` (server.sh,
# recovery.sh); sourced after the caller has set `port` and `work`.
# Builds orca and the load generator, gives a fresh work directory removed
# at exit (with the server killed), and the helpers below.

target=${CARGO_TARGET_DIR:-target}
url=http://127.0.0.1:$port

cargo build --release -q -p orca
cargo build --release -q -p server --example loadgen
orca=$target/release/orca
loadgen=$target/release/examples/loadgen
charts=$PWD/bench/charts

rm -rf "$work"
mkdir -p "$work"
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# serve DATA_DIR [VAR=value...]: starts the server in the background.
serve() {
    local data=$1
    shift
    env RUST_LOG=warn "$@" "$orca" serve --listen "127.0.0.1:$port" --data "$data" \
        2>>"$work/server.log" &
    server_pid=$!
}
# field NAME: a field of the JSON object on stdin.
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }
# metric NAME: the value of one Prometheus sample of the running server.
metric() { curl -s "$url/metrics" | awk -v name="$1" '$1 == name {print $2}'; }
