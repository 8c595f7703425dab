#!/usr/bin/env bash
# Search latency (p50/p99 per query kind) at 100k and 1M tracks on SQLite and
# on PostgreSQL, through the HTTP API of a real release server, measured from
# outside its process: whole word, 3-letter prefix, one typo, two words,
# word+genre and plain browsing, each with its second page. The catalogue is
# generated (syllable words: tens of thousands of distinct terms, like a real
# catalogue's) and loaded with bulk SQL, then grown to the next size.
# Asserts nothing; not run in CI. Needs the test services for Postgres
# (scripts/test-services.sh start); without them Postgres is skipped.
#
#   bench/search.sh                                   # 100k then 1M, both engines
#   MIST_BENCH_SIZES="20000 100000" MIST_BENCH_ROUNDS=50 bench/search.sh
#   MIST_BENCH_ENGINES=sqlite bench/search.sh
#
# MIST_BENCH_ROUNDS (default 30) queries per kind; each with its second page
# when there is one, so about twice as many samples.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES="${MIST_BENCH_SIZES:-100000 1000000}"
ROUNDS="${MIST_BENCH_ROUNDS:-30}"
ENGINES="${MIST_BENCH_ENGINES:-sqlite postgres}"
source bench/bulk.sh

# Generates tracks FROM..TO-1 of the bench catalogue as SQL (sqlite) or as
# tab-separated rows for COPY (postgres); the same rows for both. `entities`:
# the artists and albums those tracks name, as SQL for either engine (keys
# as db::albums::fold_key and album_key make them: the names are ASCII
# words). The tracks come linked to them, as ingest links them, so the
# server's start-up pass (db::albums::link_all_unlinked) has nothing to do
# and is not measured.
generate() { # sqlite|copy|entities from to uploader-id
    python3 - "$@" <<'EOF'
import hashlib, sys, time
fmt, start, end, uploader = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
M = (1 << 64) - 1
SYL = ["ka", "lo", "mi", "ra", "ven", "tor", "sil", "mar", "del", "no", "qui", "ber", "sha", "lu", "den", "fa",
       "gro", "hel", "ix", "jor", "ke", "lan", "mo", "nes", "or", "pa", "ris", "sto", "tu", "ul", "vi", "wen",
       "ya", "zel", "cor", "dra", "el", "fin", "gal", "har"]

def word(seed):  # the same words as the catalogue test's bench_word
    x = ((seed * 0x9E3779B97F4A7C15) & M) ^ (seed >> 7)
    w = ""
    for _ in range(2 + x % 2):
        x = (x * 6364136223846793005 + 1442695040888963407) & M
        w += SYL[(x >> 33) % len(SYL)]
    return w

cap = lambda w: w[:1].upper() + w[1:]
genres = [cap(word(1_000_000 + g)) for g in range(30)]
now = int(time.time() * 1000)
out = sys.stdout
cols = "id, uploader_id, title, artist, album, genre, duration_ms, status, original_key, segment_count, key_count, play_count, created_at, updated_at, artist_id, album_id"
key_id = lambda prefix, key: prefix + hashlib.sha1(key.encode()).hexdigest()[:20]
batches = {}
def add(table, columns, row, suffix=""):
    batch = batches.setdefault((table, columns, suffix), [])
    batch.append("(" + ",".join(f"'{v}'" if isinstance(v, str) else str(v) for v in row) + ")")
    if len(batch) == 1000 and table == "tracks":  # artists and albums at the end, artists first
        flush(table, columns, suffix)
def flush(table, columns, suffix):
    batch = batches[(table, columns, suffix)]
    for at in range(0, len(batch), 1000):
        out.write(f"INSERT INTO {table} ({columns}) VALUES\n" + ",\n".join(batch[at:at + 1000]) + f"{suffix};\n")
    batch.clear()
seen = set()
for i in range(start, end):
    tid = f"search{i:08d}"
    artist = f"{cap(word(200_000 + i % 5_000))} {cap(word(300_000 + i % 3_000))}"
    album = cap(word(400_000 + i % 10_000))
    album_key = f"{artist.lower()}\x1f{album.lower()}"
    artist_id, album_id = key_id("bar", artist.lower()), key_id("bal", album_key)
    if fmt == "entities":
        # Artist and album pairs repeat every 30,000 tracks.
        if i >= 30_000 or album_key in seen:
            continue
        seen.add(album_key)
        if artist.lower() not in seen:
            seen.add(artist.lower())
            add("artists", "id, key, name, created_at", (artist_id, artist.lower(), artist, now),
                " ON CONFLICT (key) DO NOTHING")
        add("albums", "id, key, title, artist, artist_id, genre, created_at, updated_at",
            (album_id, album_key, album, artist, artist_id, genres[i % 30], now, now), " ON CONFLICT (key) DO NOTHING")
        continue
    row = (tid, uploader, f"{cap(word(i % 40_000))} {cap(word(i * 7 + 3))}", artist, album, genres[i % 30],
           180_000 + i, "ready", f"tracks/{tid}/original.wav", 30, 6, i % 17, now - i * 1000, now,
           artist_id, album_id)
    if fmt == "copy":
        out.write("\t".join(map(str, row)) + "\n")
    else:
        add("tracks", cols, row)
# Artists before the albums that name them.
for table, columns, suffix in sorted(batches, key=lambda k: k[0] != "artists"):
    flush(table, columns, suffix)
EOF
}

load_sqlite() { # db from to uploader
    { generate entities "$2" "$3" "$4"; generate sqlite "$2" "$3" "$4"; } | sqlite_bulk_load "$1"
}

load_postgres() { # url from to uploader
    generate entities "$2" "$3" "$4" >"$WORK/entities.sql"
    generate copy "$2" "$3" "$4" >"$WORK/rows.tsv"
    pg_bulk_load "$1" tracks <<EOF
\i $WORK/entities.sql
\copy tracks (id, uploader_id, title, artist, album, genre, duration_ms, status, original_key, segment_count, key_count, play_count, created_at, updated_at, artist_id, album_id) FROM '$WORK/rows.tsv'
EOF
    rm -f "$WORK/rows.tsv" "$WORK/entities.sql"
}

# Times every query kind over one kept-alive HTTP connection.
measure() { # engine tracks
    python3 - "$BASE" "$(admin_token)" "$1" "$2" "$ROUNDS" <<'EOF'
import http.client, json, sys, time, urllib.parse
base, token, engine, n, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
M = (1 << 64) - 1
SYL = ["ka", "lo", "mi", "ra", "ven", "tor", "sil", "mar", "del", "no", "qui", "ber", "sha", "lu", "den", "fa",
       "gro", "hel", "ix", "jor", "ke", "lan", "mo", "nes", "or", "pa", "ris", "sto", "tu", "ul", "vi", "wen",
       "ya", "zel", "cor", "dra", "el", "fin", "gal", "har"]
def word(seed):
    x = ((seed * 0x9E3779B97F4A7C15) & M) ^ (seed >> 7)
    w = ""
    for _ in range(2 + x % 2):
        x = (x * 6364136223846793005 + 1442695040888963407) & M
        w += SYL[(x >> 33) % len(SYL)]
    return w
genre = word(1_000_000)
genre = genre[:1].upper() + genre[1:]
words = [word(r * 977 % 40_000) for r in range(rounds)]
def typo(w):
    c = list(w); del c[len(c) // 2]; return "".join(c)
kinds = [
    ("word", lambda w: {"q": w}),
    ("prefix", lambda w: {"q": w[:3]}),
    ("typo", lambda w: {"q": typo(w)}),
    ("two words", lambda w: {"q": f"{w} {w[:2]}"}),
    ("word+genre", lambda w: {"q": w, "genre": genre}),
    ("browse", lambda w: {}),
]
host = urllib.parse.urlparse(base).netloc
conn = http.client.HTTPConnection(host, timeout=60)
headers = {"authorization": f"Bearer {token}"}
def get(params):
    path = "/api/v1/tracks" + ("?" + urllib.parse.urlencode(params) if params else "")
    t = time.perf_counter()
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    elapsed = time.perf_counter() - t
    if r.status != 200:
        sys.exit(f"{path}: {r.status} {body[:200]!r}")
    return elapsed, json.loads(body)
def pct(times, p):
    return times[round((len(times) - 1) * p)] * 1000
get({"q": "warmup"})
everything = []
for name, make in kinds:
    times, hits = [], 0
    for w in words:
        params = make(w)
        elapsed, page = get(params)
        times.append(elapsed)
        hits += bool(page["items"])
        if page.get("next_cursor"):
            elapsed, _ = get({**params, "cursor": page["next_cursor"]})
            times.append(elapsed)
    times.sort()
    everything += times
    print(f"search {engine:<8} {n:>8} {name:<11} n={len(times):<4} p50={pct(times, .5):8.2f} ms  p99={pct(times, .99):8.2f} ms"
          f"  max={times[-1] * 1000:8.2f} ms  (found something: {hits}/{len(words)})", flush=True)
everything.sort()
print(f"search {engine:<8} {n:>8} {'all':<11} n={len(everything):<4} p50={pct(everything, .5):8.2f} ms  p99={pct(everything, .99):8.2f} ms"
      f"  max={everything[-1] * 1000:8.2f} ms", flush=True)
EOF
}

echo "== search latency over HTTP, release build: $(machine_line)"
for engine in $ENGINES; do
    env_db=()
    case "$engine" in
        sqlite) dir="$WORK/sqlite" ;;
        postgres)
            if ! have_postgres; then echo "postgres: skipped (no test services: scripts/test-services.sh start)"; continue; fi
            pg_fresh_db mist_bench_search
            dir="$WORK/pg" env_db=(DATABASE_URL="$PG_URL")
            ;;
        *) echo "unknown engine $engine" >&2; exit 1 ;;
    esac
    start_server "$dir" "${env_db[@]}" # migrations and the admin
    stop_server
    if [ "$engine" = sqlite ]; then
        admin_id="$(sqlite3 "$dir/mist.db" "SELECT id FROM users WHERE email = '$MIST_ADMIN_EMAIL'")"
    else
        admin_id="$(psql -qAt "$PG_URL" -c "SELECT id FROM users WHERE email = '$MIST_ADMIN_EMAIL'")"
    fi
    have=0
    for size in $SIZES; do
        started=$(date +%s.%N)
        if [ "$engine" = sqlite ]; then
            load_sqlite "$dir/mist.db" "$have" "$size" "$admin_id"
        else
            load_postgres "$PG_URL" "$have" "$size" "$admin_id"
        fi
        printf '%s: %d tracks (%d added in %.0f s)\n' "$engine" "$size" $((size - have)) "$(echo "$(date +%s.%N) - $started" | bc -l)"
        have=$size
        start_server "$dir" "${env_db[@]}"
        measure "$engine" "$size"
        stop_server
    done
done
