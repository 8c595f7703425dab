#!/usr/bin/env bash
# Heartbeats/s and key requests/s on this machine, p50/p99, SQLite and Postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/test-services.sh start)"
cargo bench -p mist-server --features testing --bench playback_load
