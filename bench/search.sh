#!/usr/bin/env bash
# Search latency (p50/p99) at 100k tracks on SQLite and on Postgres, through
# the HTTP API of a real server: whole-word, prefix, one-typo, two-word,
# word+genre queries and plain browsing, each with its second page.
# Not run in CI. Needs the test services (Postgres with pgvector):
#
#   bench/search.sh                  # 100k tracks, 20 queries per kind
#   MIST_BENCH_TRACKS=20000 MIST_BENCH_ROUNDS=50 bench/search.sh
#   MIST_BENCH_PROFILE=dev bench/search.sh   # skip the release build
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/test-services.sh start)"
profile=(--release)
if [ "${MIST_BENCH_PROFILE:-release}" = dev ]; then profile=(); fi
cargo test "${profile[@]}" -p mist-server --test catalogue -- \
    --ignored --exact search_latency_at_100k_tracks --nocapture 2>&1 |
    grep -E '^search|inserted|panicked|error'
