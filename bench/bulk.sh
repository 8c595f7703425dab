# Shared by bench/search.sh and bench/similar.sh (source it after `cd` to the
# repository): a release mist-server on a free port, fresh databases on both
# engines, and bulk loading of generated rows straight into them (SQL, not the
# API: a million tracks through the upload path would take days).
#
# Sets: BIN (the release mist-server), WORK (removed on exit), BASE (the
# running server's URL), PG_URL (after pg_fresh_db). An EXIT trap stops the
# server, drops the databases made here and removes $WORK.
#
# Where the schema changes, the loaders in search.sh and similar.sh (one
# function each per engine) are what to adapt; what is here only knows that
# the rows go into tables.

export MIST_ADMIN_EMAIL="admin@bench.test" MIST_ADMIN_PASSWORD="bench-admin-password"
export MIST_JWT_SECRET="bench-jwt-secret-that-is-long-enough-0123456789"
export MIST_MASTER_KEY="00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
export MIST_AUTH_RATE_LIMIT_PER_MINUTE=100000

echo "building mist-server (release)..." >&2
# The same packages as bench/lib.sh and bench/load.sh build, so the binary
# (whose dependencies' features depend on what is built with it) is not
# rebuilt when the scripts run one after another.
# MIST_BENCH_BIN: an already built binary instead (e.g. a copy of the one
# before a change, for before/after figures from one checkout).
if [ -n "${MIST_BENCH_BIN:-}" ]; then
    BIN="$MIST_BENCH_BIN"
else
    cargo build --release -q -p mist-server -p mist-tui
    BIN="$PWD/target/release/mist-server"
fi
WORK="$(mktemp -d /tmp/mist-bench.XXXXXX)"
SERVER_PID=""
PG_DATABASES=()
bulk_cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    # MIST_BENCH_KEEP_DB=1: leave the Postgres databases for EXPLAIN ANALYZE
    # afterwards (drop them by hand).
    for db in "${PG_DATABASES[@]}"; do
        if [ -n "${MIST_BENCH_KEEP_DB:-}" ]; then echo "kept database $db" >&2; continue; fi
        psql -q "$MIST_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" || true
    done
    rm -rf "$WORK"
}
trap bulk_cleanup EXIT

start_server() { # data-dir [VAR=value...]: `serve --no-worker` until /healthz answers
    local dir="$1" port
    shift
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    env "$@" "$BIN" serve --no-worker --data-dir "$dir" --listen "127.0.0.1:$port" >>"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    BASE="http://127.0.0.1:$port"
    for _ in $(seq 300); do curl -sf "$BASE/healthz" >/dev/null && return 0; sleep 0.1; done
    tail -20 "$WORK/server.log" >&2
    exit 1
}

stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }

admin_token() {
    curl -sf -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$MIST_ADMIN_EMAIL\",\"password\":\"$MIST_ADMIN_PASSWORD\"}" | jq -r .token
}

# The test services' Postgres (pgvector), or nothing: then Postgres is skipped.
have_postgres() {
    if [ -z "${MIST_TEST_DATABASE_URL:-}" ] && [ -x scripts/test-services.sh ]; then
        eval "$(scripts/test-services.sh env 2>/dev/null)" || true
    fi
    [ -n "${MIST_TEST_DATABASE_URL:-}" ]
}

pg_fresh_db() { # name-prefix → PG_URL (dropped on exit)
    local db
    db="${1}_$(date +%s)_$$"
    psql -q "$MIST_TEST_DATABASE_URL" -c "CREATE DATABASE $db"
    PG_DATABASES+=("$db")
    PG_URL="${MIST_TEST_DATABASE_URL%/*}/$db"
}

# Runs SQL (stdin) that fills TABLES in one psql session, with their
# secondary indexes dropped first and made again after, from their own
# definitions (pg_indexes): building a GIN or HNSW index once over a million
# rows takes minutes, inserting into it row by row takes far longer. The
# result is the same index the migrations make. Then ANALYZE, as autovacuum
# would in service.
pg_bulk_load() { # url table... < sql
    local url="$1" tables
    shift
    tables="$(printf "'%s'," "$@")"
    tables="${tables%,}"
    {
        cat <<EOF
\set ON_ERROR_STOP on
SET maintenance_work_mem = '1GB';
SET max_parallel_maintenance_workers = 2;
CREATE TEMP TABLE bench_indexes AS
  SELECT indexname, indexdef FROM pg_indexes i
  WHERE schemaname = 'public' AND tablename IN ($tables)
    AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname);
DO \$\$ DECLARE r record; BEGIN
  FOR r IN SELECT indexname FROM bench_indexes LOOP EXECUTE 'DROP INDEX ' || quote_ident(r.indexname); END LOOP;
END \$\$;
EOF
        cat
        cat <<EOF
DO \$\$ DECLARE r record; BEGIN
  FOR r IN SELECT indexdef FROM bench_indexes LOOP EXECUTE r.indexdef; END LOOP;
END \$\$;
ANALYZE;
EOF
    } | psql -q "$url"
}

# Runs SQL (stdin) on a SQLite database in one transaction, without fsyncs
# (a bench database: nothing to lose), then ANALYZE.
sqlite_bulk_load() { # db-file < sql
    { echo "PRAGMA synchronous = OFF; BEGIN;"; cat; echo "COMMIT; ANALYZE;"; } | sqlite3 -bail "$1"
}

machine_line() {
    echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD)"
}
