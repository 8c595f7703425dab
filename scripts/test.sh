#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need
# (Debian packages, pgvector, s3s-fs), starts PostgreSQL and the
# S3-compatible server, checks formatting and lints, then runs every test on
# both databases and both object stores.
#
#   ./scripts/test.sh                 everything
#   ./scripts/test.sh -p mist-server  extra arguments go to `cargo test`
#   MIST_SKIP_LINT=1 ./scripts/test.sh   skip rustfmt and clippy
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/test-services.sh start)"
echo "test services: postgres at ${MIST_TEST_DATABASE_URL#*@}, s3 at $MIST_TEST_S3_ENDPOINT"

if [ "${MIST_SKIP_LINT:-0}" != 1 ]; then
    echo "== cargo fmt --check"
    cargo fmt --all -- --check
    echo "== cargo clippy"
    cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
fi

echo "== cargo test"
cargo test --workspace --all-features --locked "$@"
