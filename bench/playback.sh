#!/usr/bin/env bash
# Key requests/s (first fetch, charged in a transaction; re-fetch, free) and
# heartbeats/s with p50/p99, on SQLite and Postgres, beside GET /healthz on
# the same server as the reference. Needs the test services for Postgres;
# MIST_BENCH_SERVICES=env uses services already running instead of starting them.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/test-services.sh "${MIST_BENCH_SERVICES:-start}")"
cargo bench -p mist-server --features testing --bench playback_load 2>&1 |
    grep -E '^(Sqlite|Postgres|\(MIST|error)|panicked'
