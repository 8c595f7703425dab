#!/usr/bin/env bash
# Benchmarks for audio features and similar tracks (issue 8). Prints figures;
# asserts nothing; not run in CI.
#
#   bench/similar.sh                                  everything
#   MIST_BENCH_SIZES=20000 MIST_BENCH_SKIP_ANALYSIS=1 bench/similar.sh
#
# 1. Analysis time of a 5-minute track: `mist-server analyze` (release build;
#    decode + features + embedding, whole process) against librosa 0.11's
#    feature calls (scripts/librosa_reference.py's `analyze`) on the same file
#    in the same run. librosa is looked for in $LIBROSA_PYTHON, then
#    /tmp/librosa-venv (see scripts/librosa_reference.py); without it that
#    line says "skipped".
# 2. Similar-track query latency (p50/p99) at 100k and 1M ready tracks with
#    random unit embeddings loaded with bulk SQL, through the real HTTP
#    endpoint (`GET /api/v1/tracks/{id}/similar?limit=10`) of a release server,
#    on SQLite and on PostgreSQL (needs the test services:
#    scripts/test-services.sh start), and each engine's recall@10 against an
#    exact scan (PostgreSQL with its index turned off, over the same vectors).
#
#    MIST_BENCH_SIZES   catalogue sizes, grown in turn ("100000 1000000")
#    MIST_BENCH_QUERIES queries per engine and size (20)
#    MIST_BENCH_ENGINES "sqlite postgres"
#    MIST_BENCH_SKIP_ANALYSIS=1 skips part 1
set -euo pipefail

cd "$(dirname "$0")/.."
SIZES="${MIST_BENCH_SIZES:-100000 1000000}"
QUERIES="${MIST_BENCH_QUERIES:-20}"
ENGINES="${MIST_BENCH_ENGINES:-sqlite postgres}"
source bench/bulk.sh

best_of_3() { # prints the best wall time of three runs of "$@", in seconds
    local best="" t0 t1 t
    for _ in 1 2 3; do
        t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
        t=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
    done
    printf '%.2f' "$best"
}

# --- 1. analysis of five minutes -------------------------------------------
if [ "${MIST_BENCH_SKIP_ANALYSIS:-}" != 1 ]; then
FIVE="$WORK/five-minutes.wav"
sox -n -r 44100 -b 16 -c 2 "$FIVE" synth 300 sine 220 sine 660 pinknoise \
    remix 1,2,3 1,2,3 tremolo 2.13 50 gain -6
ffmpeg -v error -y -i "$FIVE" -c:a libmp3lame -b:a 192k "$WORK/five-minutes.mp3"
echo "== analysis of a 5-minute track (best of 3; $(nproc) cores, load average $(cut -d" " -f1 /proc/loadavg))"
echo "mist-server analyze, WAV:  $(best_of_3 "$BIN" analyze --json "$FIVE") s  (decode + resample + features + embedding)"
echo "mist-server analyze, MP3:  $(best_of_3 "$BIN" analyze --json "$WORK/five-minutes.mp3") s"

PY="${LIBROSA_PYTHON:-/tmp/librosa-venv/bin/python}"
if [ -x "$PY" ] && "$PY" -c 'import librosa' 2>/dev/null; then
    "$PY" - "$FIVE" <<'EOF'
import sys, time
sys.path.insert(0, "scripts")
import librosa
import librosa_reference as ref

t0 = time.perf_counter()
y, _ = librosa.load(sys.argv[1], sr=ref.SR, mono=True)
load = time.perf_counter() - t0
ref.analyze(y)  # warm numba's caches and the FFT plans
runs = []
for _ in range(3):
    t0 = time.perf_counter()
    ref.analyze(y)
    runs.append(time.perf_counter() - t0)
print(f"librosa {librosa.__version__} features:    {min(runs):.2f} s  (best of 3; plus {load:.2f} s for librosa.load to 22.05 kHz)")
EOF
else
    echo "librosa: skipped (no librosa in $PY; see scripts/librosa_reference.py to install it)"
fi
fi

# --- 2. similar-track latency and recall ------------------------------------
# Tracks FROM..TO-1 with random unit embeddings (the same for both engines):
# SQL for SQLite (40 little-endian f32 in a BLOB), or two COPY files for
# Postgres (tracks, then track_features with pgvector literals).
generate() { # sqlite|copy from to uploader-id out-prefix
    python3 - "$@" <<'EOF'
import math, random, struct, sys
fmt, start, end, uploader, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def vector(i):
    rng = random.Random(i)
    v = [rng.gauss(0, 1) for _ in range(40)]
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]
if fmt == "copy":
    tracks, features = open(out + ".tracks", "w"), open(out + ".features", "w")
else:
    sql = open(out + ".sql", "w")
t_rows, f_rows = [], []
def flush():
    if t_rows:
        sql.write("INSERT INTO tracks (id, uploader_id, title, duration_ms, status, original_key, created_at, updated_at) VALUES\n"
                  + ",\n".join(t_rows) + ";\n")
        sql.write("INSERT INTO track_features (track_id, feature_version, features, embedding, computed_at) VALUES\n"
                  + ",\n".join(f_rows) + ";\n")
        t_rows.clear(); f_rows.clear()
for i in range(start, end):
    tid, v = f"bench{i:08d}", vector(i)
    if fmt == "copy":
        tracks.write(f"{tid}\t{uploader}\tbench track {i}\t180000\tready\ttracks/{tid}/original.wav\t{i}\t{i}\n")
        features.write(f"{tid}\t1\t{{}}\t[{','.join(f'{x:.7g}' for x in v)}]\t0\n")
    else:
        t_rows.append(f"('{tid}','{uploader}','bench track {i}',180000,'ready','tracks/{tid}/original.wav',{i},{i})")
        f_rows.append(f"('{tid}',1,'{{}}',X'{struct.pack('<40f', *v).hex()}',0)")
        if len(t_rows) == 1000:
            flush()
if fmt != "copy":
    flush()
EOF
}

load_sqlite() { # db from to uploader
    generate sqlite "$2" "$3" "$4" "$WORK/rows"
    sqlite_bulk_load "$1" <"$WORK/rows.sql"
    rm -f "$WORK/rows.sql"
}

load_postgres() { # url from to uploader
    generate copy "$2" "$3" "$4" "$WORK/rows"
    pg_bulk_load "$1" tracks track_features <<EOF
\copy tracks (id, uploader_id, title, duration_ms, status, original_key, created_at, updated_at) FROM '$WORK/rows.tracks'
\copy track_features (track_id, feature_version, features, embedding, computed_at) FROM '$WORK/rows.features'
EOF
    rm -f "$WORK/rows.tracks" "$WORK/rows.features"
}

query_ids() { # tracks → the query track ids, one a line
    for i in $(seq "$QUERIES"); do printf 'bench%08d\n' $(((i * 7919) % $1)); done
}

# Times each query over one kept-alive connection; writes "id<TAB>answer ids" to FILE.
measure() { # engine tracks file
    python3 - "$BASE" "$(admin_token)" "$1" "$2" "$3" $(query_ids "$2") <<'EOF'
import http.client, json, sys, time, urllib.parse
base, token, engine, n, out, ids = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6:]
conn = http.client.HTTPConnection(urllib.parse.urlparse(base).netloc, timeout=120)
headers = {"authorization": f"Bearer {token}"}
def similar(tid):
    t = time.perf_counter()
    conn.request("GET", f"/api/v1/tracks/{tid}/similar?limit=10", headers=headers)
    r = conn.getresponse()
    body = r.read()
    elapsed = time.perf_counter() - t
    if r.status != 200:
        sys.exit(f"{tid}: {r.status} {body[:200]!r}")
    items = json.loads(body)["items"]
    if len(items) != 10:
        sys.exit(f"{tid}: {len(items)} items")
    return elapsed, [i["track"]["id"] for i in items]
warm, _ = similar(ids[0])  # on SQLite this first query loads the in-memory index
print(f"similar {engine:<8} {n:>8}  first query after start {warm * 1000:8.1f} ms", flush=True)
times = []
with open(out, "w") as f:
    for tid in ids:
        elapsed, got = similar(tid)
        times.append(elapsed)
        f.write(tid + "\t" + " ".join(got) + "\n")
times.sort()
pct = lambda p: times[round((len(times) - 1) * p)] * 1000
print(f"similar {engine:<8} {n:>8}  p50 {pct(.5):8.1f} ms  p99 {pct(.99):8.1f} ms  max {times[-1] * 1000:8.1f} ms  ({len(times)} queries over HTTP)", flush=True)
EOF
}

# The exact 10 nearest of each query track: Postgres with index scans off
# scans every vector. Writes "id<TAB>ids" to FILE.
exact() { # url tracks file
    local id
    for id in $(query_ids "$2"); do
        printf '%s\t%s\n' "$id" "$(psql -qAt "$1" <<EOF | tr '\n' ' ' | sed 's/ $//'
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT f.track_id FROM track_features f, (SELECT embedding FROM track_features WHERE track_id = '$id') q
WHERE f.track_id <> '$id' ORDER BY f.embedding <=> q.embedding LIMIT 10;
EOF
)"
    done >"$3"
}

recall() { # label tracks answers-file exact-file
    python3 - "$@" <<'EOF'
import sys
label, n, got, want = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
read = lambda p: {l.split("\t")[0]: set(l.rstrip("\n").split("\t")[1].split()) for l in open(p)}
got, want = read(got), read(want)
r = sum(len(got[q] & want[q]) for q in want) / (10 * len(want))
print(f"similar {label:<8} {n:>8}  recall@10 {r:.3f} against an exact scan ({len(want)} queries)")
EOF
}

echo "== similar-track query latency, release build: $(machine_line)"
SQLITE_DIR="$WORK/sqlite" PG_DIR="$WORK/pg"
run_sqlite=0 run_pg=0
case " $ENGINES " in *" sqlite "*) run_sqlite=1 ;; esac
case " $ENGINES " in *" postgres "*) run_pg=1 ;; esac
if [ "$run_pg" = 1 ] && ! have_postgres; then
    echo "postgres: skipped, and no recall figures (no test services: scripts/test-services.sh start)"
    run_pg=0
fi
if [ "$run_sqlite" = 1 ]; then
    start_server "$SQLITE_DIR" && stop_server
    SQLITE_ADMIN=$(sqlite3 "$SQLITE_DIR/mist.db" "SELECT id FROM users WHERE email = '$MIST_ADMIN_EMAIL'")
fi
if [ "$run_pg" = 1 ]; then
    pg_fresh_db mist_bench_similar
    start_server "$PG_DIR" DATABASE_URL="$PG_URL" && stop_server
    PG_ADMIN=$(psql -qAt "$PG_URL" -c "SELECT id FROM users WHERE email = '$MIST_ADMIN_EMAIL'")
fi
have=0
for size in $SIZES; do
    if [ "$run_sqlite" = 1 ]; then
        started=$(date +%s)
        load_sqlite "$SQLITE_DIR/mist.db" "$have" "$size" "$SQLITE_ADMIN"
        echo "sqlite: $size tracks ($((size - have)) added in $(($(date +%s) - started)) s)"
        start_server "$SQLITE_DIR"
        measure sqlite "$size" "$WORK/sqlite-$size.answers"
        stop_server
    fi
    if [ "$run_pg" = 1 ]; then
        started=$(date +%s)
        load_postgres "$PG_URL" "$have" "$size" "$PG_ADMIN"
        echo "postgres: $size tracks ($((size - have)) added in $(($(date +%s) - started)) s; plan: $(psql -qAt "$PG_URL" -c "EXPLAIN SELECT t.id FROM track_features f JOIN tracks t ON t.id = f.track_id
            WHERE t.status = 'ready' AND f.track_id <> 'x' ORDER BY f.embedding <=> (SELECT embedding FROM track_features LIMIT 1) LIMIT 10" |
            grep -o 'Index Scan using [a-z_]*' | head -1))"
        start_server "$PG_DIR" DATABASE_URL="$PG_URL"
        measure postgres "$size" "$WORK/postgres-$size.answers"
        stop_server
        exact "$PG_URL" "$size" "$WORK/exact-$size"
        [ "$run_sqlite" = 1 ] && recall sqlite "$size" "$WORK/sqlite-$size.answers" "$WORK/exact-$size"
        recall postgres "$size" "$WORK/postgres-$size.answers" "$WORK/exact-$size"
    fi
    have=$size
done
