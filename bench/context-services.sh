#!/usr/bin/env bash
# The Context Services benchmark (crates/contextservices/examples/bench.rs):
# identify-by-phone look-ups/s and seed 001 state transitions/s through HTTP,
# at 1,000,000 profiles, on SQLite and, when ORCA_BENCH_POSTGRES_URL names a
# server, on PostgreSQL (schema cs_bench). The profiles are loaded on the
# first run (about a minute on SQLite, several on PostgreSQL) and kept:
# SQLite in /tmp/orca-cs-bench, PostgreSQL in its schema.
#
#   bench/context-services.sh
#   ORCA_BENCH_POSTGRES_URL=postgres://orca:orca@127.0.0.1:5432/orca_test bench/context-services.sh
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
cargo build --release -q -p contextservices --example bench
bench=${CARGO_TARGET_DIR:-target}/release/examples/bench
profiles=${PROFILES:-1000000}
"$bench" --profiles "$profiles"
if [ -n "${ORCA_BENCH_POSTGRES_URL:-}" ]; then
    "$bench" --database "$ORCA_BENCH_POSTGRES_URL" --pg-schema cs_bench --profiles "$profiles"
fi
