#!/usr/bin/env bash
# Benchmarks of kvt (make bench). Prints markdown rows for docs/benchmarks.md.
# Usage: scripts/bench.sh [ingest-drive|ingest-kafka|fraud|kyc|silver|silver-SOURCE|silver-history|silver-history-SOURCE|chain|chain-SCALE|chain-history|all]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${KVT_BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
WORK=${BENCH_DIR:-$ROOT/target/bench}
what=${1:-all}

machine() {
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(lscpu | sed -n 's/^Model name: *//p'), $(uname -r)"
  echo "Date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
}

# seconds and peak RSS (KiB) of a command: prints "secs rss_kib"
measure() {
  local f; f=$(mktemp)
  /usr/bin/time -o "$f" -f "%e %M" "$@" >/dev/null 2>&1
  tail -1 "$f"; rm -f "$f"
}

bench_ingest_drive() {
  local d=$WORK/ingest-drive
  rm -rf "$d"; mkdir -p "$d/drop/many" "$d/drop/big"
  echo "generating 1000 files x 1 MiB and one 1 GiB file..." >&2
  head -c $((1024*1024*1024)) /dev/urandom > "$d/blob"
  for i in $(seq -w 0 999); do
    mkdir -p "$d/drop/many/$((10#$i / 100))"
    dd if="$d/blob" of="$d/drop/many/$((10#$i / 100))/file-$i.bin" bs=1M count=1 skip=$((10#$i)) status=none
  done
  mv "$d/blob" "$d/drop/big/one-gib.bin"
  cat > "$d/kvt.toml" <<TOML
[sources.many]
path = "drop/many"
[sources.big]
path = "drop/big"
TOML
  # Three alternating rounds after a sync each; the median is reported (this VM's
  # writeback makes single runs vary by 2-3x).
  cat "$d"/drop/many/*/* > /dev/null
  local cps=() kvts=() rsss=() bigs=() bigrsss=() cpbigs=() dds=()
  cd "$d"
  for round in 1 2 3; do
    sync; read -r t _ < <(measure cp -r "$d/drop/many" "$d/cp-copy"); cps+=("$t"); rm -rf "$d/cp-copy"
    sync; rm -rf "$d/lake"
    read -r t r < <(measure env KVT_STORE="file://$d/lake" "$BIN/kvt" -q ingest drive --source many); kvts+=("$t"); rsss+=("$r")
    sync; read -r t _ < <(measure cp "$d/drop/big/one-gib.bin" "$d/cp-big"); cpbigs+=("$t"); rm -f "$d/cp-big"
    # A copy through user space (what any streaming tool pays; cp uses in-kernel copy_file_range).
    sync; read -r t _ < <(measure dd if="$d/drop/big/one-gib.bin" of="$d/dd-big" bs=8M status=none); dds+=("$t"); rm -f "$d/dd-big"
    sync; rm -rf "$d/lake-big"
    read -r t r < <(measure env KVT_STORE="file://$d/lake-big" "$BIN/kvt" -q ingest drive --source big); bigs+=("$t"); bigrsss+=("$r")
  done
  cd "$ROOT"
  med() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
  max() { printf '%s\n' "$@" | sort -g | tail -1; }
  local kvt_s cp_best kvt_rss big_s big_rss cpbig_s dd_s
  kvt_s=$(med "${kvts[@]}"); cp_best=$(med "${cps[@]}"); kvt_rss=$(max "${rsss[@]}")
  big_s=$(med "${bigs[@]}"); big_rss=$(max "${bigrsss[@]}"); cpbig_s=$(med "${cpbigs[@]}"); dd_s=$(med "${dds[@]}")
  python3 - "$kvt_s" "$cp_best" "$kvt_rss" "$big_s" "$big_rss" "$cpbig_s" "$dd_s" <<'PY'
import sys
kvt, cp, rss, big, bigrss, cpbig, dd = map(float, sys.argv[1:])
mib = 1000.0
print("| ingest drive, 1,000 files / 1,000 MiB, local dir → file:// lake | "
      f"{mib/kvt:.0f} MiB/s, {1000/kvt:.0f} files/s ({kvt:.2f} s) | cp -r: {mib/cp:.0f} MiB/s ({cp:.2f} s) | "
      f"**{cp/kvt:.2f}×** cp | peak RSS {rss/1024:.0f} MiB |")
print("| ingest drive, one 1 GiB file | "
      f"{1024/big:.0f} MiB/s ({big:.2f} s) | cp: {1024/cpbig:.0f} MiB/s ({cpbig:.2f} s) | "
      f"**{cpbig/big:.2f}×** cp | peak RSS {bigrss/1024:.0f} MiB |")
print("| (same file) user-space copy `dd bs=8M` | "
      f"kvt {1024/big:.0f} MiB/s | dd: {1024/dd:.0f} MiB/s ({dd:.2f} s) | "
      f"**{dd/big:.2f}×** dd | |")
PY
  rm -rf "$d"
}

# Start tansu on a free port in $1 (data dir); prints the address.
start_tansu() {
  local dir=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$dir"
  (cd "$dir" && exec "${KVT_TOOLS_DIR:-$ROOT/target/tools}/bin/tansu" broker --listener-url "tcp://127.0.0.1:$port" \
     --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine sqlite://tansu.db > tansu.log 2>&1) &
  echo $! > "$dir/pid"
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && { echo "127.0.0.1:$port"; return; }
    sleep 0.1
  done
  echo "tansu did not start" >&2; exit 1
}

# kvt ingest kafka vs a bare librdkafka consumer, on N million events.
bench_ingest_kafka() {
  local millions=$1 d=$WORK/ingest-kafka-$1m
  rm -rf "$d"; mkdir -p "$d"
  local scale; scale=$(python3 -c "print(round($millions * 1e6 / 16300, 1))")
  echo "generating ~${millions}M events (scale $scale)..." >&2
  "$BIN/kvt-gen" --date 2026-03-17 --sources events --scale "$scale" --out "$d/gen" -q
  local brokers; brokers=$(start_tansu "$d/broker")
  "$BIN/kvt-gen" topics --brokers "$brokers" --topic-prefix b- --topics payments,orders >/dev/null
  local prod; prod=$("$BIN/kvt-gen" produce --events "$d/gen/events" --brokers "$brokers" --topic-prefix b-)
  local n mb; n=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['messages'])" "$prod")
  mb=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['bytes']/1048576)" "$prod")
  sync
  local bare_out; bare_out=$("$BIN/examples/bare_consumer" "$brokers" b-payments b-orders)
  local bare_s bare_n
  bare_s=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['seconds'])" "$bare_out")
  bare_n=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['messages'])" "$bare_out")
  [ "$bare_n" = "$n" ] || { echo "bare consumer read $bare_n of $n messages" >&2; exit 1; }
  cd "$d"
  read -r kvt_s kvt_rss < <(measure env KVT_STORE="file://$d/lake" KVT_KAFKA_BROKERS="$brokers" "$BIN/kvt" -q ingest kafka --topic b-payments,b-orders --idle-timeout 10s --broker-timeout 600s)
  cd "$ROOT"
  kill "$(cat "$d/broker/pid")" 2>/dev/null || true
  local landed; landed=$(python3 -c "
import json
print(sum(json.loads(l)['message_count'] for l in open('$d/lake/bronze/_manifests/kafka.jsonl')))")
  python3 - "$n" "$mb" "$kvt_s" "$bare_s" "$kvt_rss" "$landed" "$prod" <<'PY'
import json, sys
n, mb, kvt, bare, rss, landed = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
prod = json.loads(sys.argv[7])
assert landed == n, f"landed {landed} != produced {n}"
print(f"| ingest kafka, {n:,} events ({mb:.0f} MiB of values), tansu → file:// lake | "
      f"{n/kvt:,.0f} msg/s, {mb/kvt:.1f} MiB/s ({kvt:.1f} s) | bare librdkafka consumer: {n/bare:,.0f} msg/s ({bare:.1f} s) | "
      f"**{bare/kvt:.2f}×** bare | peak RSS {rss/1024:.0f} MiB |")
print(f"| (same run) kvt-gen produce to tansu | {prod['messages_per_sec']:,.0f} msg/s | | | |")
PY
  rm -rf "$d"
}

# Like measure, but keeps the command's stdout in $1; wall time to the ms
# (time's %e has 10 ms steps: small inputs take less).
measure_to() {
  local out=$1; shift
  local f t0 t1; f=$(mktemp)
  t0=$(date +%s%N)
  /usr/bin/time -o "$f" -f "%M" "$@" >"$out" 2>/dev/null
  t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000000 )).000e-3 $(tail -1 "$f")" | awk '{printf "%.3f %s\n", $1, $2}'
  rm -f "$f"
}

# kvt silver SOURCE at SCALE (one generated day): rows/s, input MB/s, peak RSS;
# the CSV sources also against a bare polars CSV -> Parquet of the same files.
bench_silver() {
  local src=$1 scale=$2 d=$WORK/silver-$1-$2
  rm -rf "$d"; mkdir -p "$d"
  local gen=$src prefix sep=""
  case $src in
    crm) prefix=crm_data; sep=, ;;
    kyc) prefix=kyc; sep=, ;;
    logistics) prefix=logistic_partner_data; sep=";" ;;
    nginx) prefix=nginx_data ;;
    firebase) prefix=firebase_data ;;
    payments|orders) gen=events ;;
  esac
  "$BIN/kvt-gen" --date 2026-03-17 --sources "$gen" --scale "$scale" --out "$d/drop" -q
  cd "$d"
  export KVT_STORE="file://$d/lake"
  if [ "$gen" = events ]; then
    local brokers; brokers=$(start_tansu "$d/broker")
    "$BIN/kvt-gen" topics --brokers "$brokers" --topics "$src" >/dev/null
    "$BIN/kvt-gen" produce --events drop/events --brokers "$brokers" --topics "$src" >/dev/null
    KVT_KAFKA_BROKERS=$brokers "$BIN/kvt" -q ingest kafka --topic "$src" >/dev/null
    kill "$(cat "$d/broker/pid")" 2>/dev/null || true
  else
    "$BIN/kvt" -q ingest drive --source "$src" >/dev/null
  fi
  # Three runs from an empty silver/ (after a sync): median time, largest RSS.
  local times=() rsss=()
  for _ in 1 2 3; do
    rm -rf "$d/lake/silver"; sync
    read -r secs rss < <(measure_to "$d/summary.json" "$BIN/kvt" -q silver "$src" --dev-key)
    times+=("$secs"); rsss+=("$rss")
  done
  secs=$(printf '%s\n' "${times[@]}" | sort -g | sed -n 2p)
  rss=$(printf '%s\n' "${rsss[@]}" | sort -g | tail -1)
  # Optional: an earlier kvt build on the same lake, alternating (KVT_BASELINE_BIN).
  local prev=""
  if [ -n "${KVT_BASELINE_BIN:-}" ]; then
    local pt=() pr=()
    for _ in 1 2 3; do
      rm -rf "$d/lake/silver" "$d/lake/_locks"; sync
      read -r psecs prss < <(measure_to "$d/prev.json" "$KVT_BASELINE_BIN" -q silver "$src" --dev-key)
      pt+=("$psecs"); pr+=("$prss")
    done
    prev="$(printf '%s\n' "${pt[@]}" | sort -g | sed -n 2p) $(printf '%s\n' "${pr[@]}" | sort -g | tail -1)"
  fi
  unset KVT_STORE
  local bare=""
  if [ -n "$sep" ]; then
    mapfile -t files < <(find "$d/lake/bronze/$prefix" -name '*.csv' | sort)
    # Same clock as kvt: the whole process, median of three.
    local bt=()
    for _ in 1 2 3; do
      rm -rf "$d/bare"; sync
      read -r bsecs _ < <(measure_to "$d/bare.json" "$BIN/examples/bare_csv_to_parquet" "$sep" "$d/bare" "${files[@]}")
      bt+=("$bsecs")
    done
    bare=$(python3 -c "import json,sys; b=json.load(open(sys.argv[1])); b['seconds']=float(sys.argv[2]); print(json.dumps(b))" \
      "$d/bare.json" "$(printf '%s\n' "${bt[@]}" | sort -g | sed -n 2p)")
  fi
  cd "$ROOT"
  python3 - "$src" "$scale" "$secs" "$rss" "$(tail -1 "$d/summary.json")" "$bare" "$prev" <<'PY'
import json, sys
src, scale, secs, rss = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
s = json.loads(sys.argv[5])
if sys.argv[7]:
    ps, pr = map(float, sys.argv[7].split())
    print(f"| (same run) silver {src}, scale {scale}, previous build | {ps:.3f} s | this build {secs:.3f} s | **{ps/secs:.2f}×** previous | peak RSS previous {pr/1024:.0f} MiB, this {rss/1024:.0f} MiB |")
rows, mb = s["rows_in"], s["bytes_read"] / 1048576
line = (f"| silver {src}, scale {scale} | {rows:,} rows in, {s['rows_out']:,} out: "
        f"{rows/secs:,.0f} rows/s, {mb/secs:.1f} MiB/s ({secs:.3f} s) | ")
if sys.argv[6]:
    b = json.loads(sys.argv[6])
    line += f"bare polars CSV→Parquet: {b['rows']/b['seconds']:,.0f} rows/s ({b['seconds']:.3f} s) | **{b['seconds']/secs:.2f}×** bare"
else:
    line += "| "
print(line + f" | peak RSS {rss/1024:.0f} MiB |")
PY
  rm -rf "$d"
}

# DuckDB, the in-run peer of the silver-history benchmarks: pinned, from PyPI,
# in a virtualenv under target/ (created and installed only when missing).
DUCKDB_VERSION=2.0.1
duckdb_python() {
  local venv=${BENCH_VENV:-$ROOT/target/bench-venv}
  if ! "$venv/bin/python" -c "import sys, duckdb; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null; then
    echo "installing duckdb==$DUCKDB_VERSION into $venv..." >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q "duckdb==$DUCKDB_VERSION" >&2
  fi
  echo "$venv/bin/python"
}

# Runs one SQL job of scripts/bench/ in a fresh in-memory DuckDB with its
# defaults (threads = cores; no progress bar): argv = SQL file, bronze file, output directory.
# The job's last statement is its COPY; prints the rows it wrote.
DUCKDB_RUN=$(cat <<'PY'
import duckdb, json, sys
sql, bronze, out = sys.argv[1:4]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
rows = con.execute(open(sql).read().replace("{{bronze}}", bronze).replace("{{out}}", out)).fetchone()[0]
threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
print(json.dumps({"rows_out": rows, "version": duckdb.__version__, "threads": threads}))
PY
)

# kvt silver SOURCE on ~100 days of history landed as ONE bronze file: the
# daily files kvt-gen writes at scale 1 (2025-12-08..2026-03-17), concatenated
# in name order (CSV: the first header only), ingested with `kvt ingest drive`.
# Peer, when scripts/bench/silver_SOURCE.sql exists (nginx, logistics): DuckDB
# running the same rules in SQL on the same bronze file, writing zstd Parquet
# partitioned the same way. Both are timed as whole processes, alternating, from
# an empty output after a sync; median of three, largest peak RSS.
# What the SQL does not do like kvt (so the ratio is read honestly):
# - both: pseudonyms are sha256(x), not HMAC-SHA-256 (one hash, not two); no
#   rejects file, run state, lineage or _parts.json commit; DuckDB's own part
#   names and row order; bronze_key is the file path.
# - nginx: the quoted request and referer may not hold `"` (kvt backtracks; the
#   same lines are kept here); IPv6 /48 is cut as text (first three groups +
#   `::/48`, no zero compression, IPv4-mapped IPv6 not special-cased); no
#   bronze_line (DuckDB's CSV reader has no line number); no 5 % verdict.
# - logistics: decimals without digit-group separators; integers by DuckDB's
#   cast (`12.4` is rounded where kvt nulls it); the listed date layouts only;
#   business days only for dates in 1990-2099; no Windows-1252 fallback.
# On this data both keep the same rows (nginx: same count and per-column
# aggregates; logistics: every non-hash column equal, row for row).
bench_silver_history() {
  local src=$1 d=$WORK/silver-history-$1
  local prefix name unit=rows
  case $src in
    nginx) prefix=nginx_data; name=access-history.log; unit=lines ;;
    logistics) prefix=logistic_partner_data; name=livraisons-history.csv ;;
    crm) prefix=crm_data; name=crm_export_history.csv ;;
    kyc) prefix=kyc; name=kyc_export_history.csv ;;
    *) echo "no history benchmark for $src" >&2; exit 2 ;;
  esac
  rm -rf "$d"; mkdir -p "$d/drop/$prefix"
  echo "generating 100 days of $src in one file..." >&2
  "$BIN/kvt-gen" --from 2025-12-08 --to 2026-03-17 --scale 1 --sources "$src" --seed 42 --out "$d/gen" -q
  local parts; mapfile -t parts < <(find "$d/gen/$prefix" -type f | LC_ALL=C sort)
  if [ "$unit" = lines ]; then
    cat "${parts[@]}"
  else
    awk 'FNR == 1 && NR != 1 { next } { print }' "${parts[@]}"
  fi > "$d/drop/$prefix/$name"
  rm -rf "$d/gen"
  cat > "$d/kvt.toml" <<TOML
[sources.$src]
path = "drop/$prefix"
prefix = "$prefix"
TOML
  cd "$d"
  KVT_STORE="file://$d/lake" "$BIN/kvt" -q ingest drive --source "$src" >/dev/null
  rm -rf "$d/drop"
  local bronze; bronze=$(find "$d/lake/bronze/$prefix" -type f)
  local sql=$ROOT/scripts/bench/silver_$src.sql py=""
  if [ -f "$sql" ]; then py=$(duckdb_python); fi
  local times=() rsss=() dtimes=() drsss=() secs rss
  for _ in 1 2 3; do
    rm -rf "$d/lake/silver"; sync
    read -r secs rss < <(measure_to "$d/summary.json" env KVT_STORE="file://$d/lake" "$BIN/kvt" -q silver "$src" --dev-key) \
      || { echo "kvt silver $src failed (see $d)" >&2; exit 1; }
    times+=("$secs"); rsss+=("$rss")
    if [ -n "$py" ]; then
      rm -rf "$d/duckdb" "$d/.tmp"; sync
      read -r secs rss < <(measure_to "$d/duckdb.json" "$py" -c "$DUCKDB_RUN" "$sql" "$bronze" "$d/duckdb") \
        || { echo "DuckDB $sql failed: $py -c \"\$DUCKDB_RUN\" $sql $bronze $d/duckdb" >&2; exit 1; }
      dtimes+=("$secs"); drsss+=("$rss")
    fi
  done
  cd "$ROOT"
  med() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
  max() { printf '%s\n' "$@" | sort -g | tail -1; }
  local duck=""
  if [ -n "$py" ]; then
    duck=$(python3 -c "import json,sys; b=json.load(open(sys.argv[1])); b['seconds']=float(sys.argv[2]); b['rss']=float(sys.argv[3]); print(json.dumps(b))" \
      "$d/duckdb.json" "$(med "${dtimes[@]}")" "$(max "${drsss[@]}")")
  fi
  python3 - "$src" "$unit" "$(med "${times[@]}")" "$(max "${rsss[@]}")" "$(tail -1 "$d/summary.json")" "$duck" <<'PY'
import json, sys
src, unit, secs, rss = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
s = json.loads(sys.argv[5])
rows, mb = s["rows_in"], s["bytes_read"] / 1048576
size = f"{mb:,.0f}" if mb >= 10 else f"{mb:.2f}"
line = (f"| silver {src}, 100 days in one file ({rows:,} {unit}, {size} MiB) | {s['rows_out']:,} rows out: "
        f"{rows/secs:,.0f} {unit}/s, {mb/secs:.1f} MiB/s ({secs:.2f} s) | ")
if sys.argv[6]:
    b = json.loads(sys.argv[6])
    if abs(b["rows_out"] - s["rows_out"]) > 0.01 * s["rows_out"]:
        print(f"warning: DuckDB wrote {b['rows_out']:,} rows, kvt {s['rows_out']:,}", file=sys.stderr)
    line += (f"DuckDB {b['version']} ({b['threads']} threads): {b['rows_out']:,} rows out ({b['seconds']:.2f} s) | "
             f"**{b['seconds']/secs:.2f}×** DuckDB | peak RSS kvt {rss/1024:,.0f} MiB, DuckDB {b['rss']/1024:,.0f} MiB |")
else:
    line += f"| | peak RSS kvt {rss/1024:,.0f} MiB |"
print(line)
PY
  rm -rf "$d"
}

# A private PostgreSQL cluster for the warehouse benchmarks (scripts/pg.sh),
# started once per bench run under $WORK/pg and stopped at exit.
PG_STARTED=""
start_pg() {
  if [ -z "$PG_STARTED" ]; then
    eval "$("$ROOT/scripts/pg.sh" start "$WORK/pg")"
    export KVT_WAREHOUSE_URL KVT_OLTP_URL
    PG_STARTED=1
    trap '"$ROOT/scripts/pg.sh" stop "$WORK/pg" >/dev/null 2>&1 || true' EXIT
  fi
}

# The whole nightly chain on one generated day at SCALE, from an empty lake:
# ingest drive (5 sources) → ingest kafka → silver (7) → gold → load → check,
# every step a whole `kvt` process (the data generation and producing to the
# broker are not timed). Rows: gold alone, load (rows/s, and the largest
# table's COPY rate) against `psql \copy` of the same tables as CSV in the
# same run, and the whole chain (sum of the steps, largest peak RSS).
bench_chain() {
  local scale=$1 days=${2:-1}
  local d=$WORK/chain-$scale-$days
  rm -rf "$d"; mkdir -p "$d"
  start_pg
  local label="scale $scale, one day of every source"
  if [ "$days" -gt 1 ]; then
    label="scale $scale, $days days of every source"
    echo "generating $label..." >&2
    "$BIN/kvt-gen" --from "$(date -u -d "2026-03-17 - $((days - 1)) days" +%F)" --to 2026-03-17 \
      --scale "$scale" --seed 42 --out "$d/drop" -q
  else
    echo "generating $label..." >&2
    "$BIN/kvt-gen" --date 2026-03-17 --scale "$scale" --seed 42 --out "$d/drop" -q
  fi
  local brokers; brokers=$(start_tansu "$d/broker")
  "$BIN/kvt-gen" topics --brokers "$brokers" >/dev/null
  "$BIN/kvt-gen" produce --events "$d/drop/events" --brokers "$brokers" >/dev/null
  cd "$d"
  export KVT_STORE="file://$d/lake" KVT_NOW=2026-03-17T23:00:00Z KVT_KAFKA_BROKERS=$brokers
  local total=0 peak=0 secs rss step
  run_step() {
    step=$1; shift
    sync
    local f t0 t1 rc=0; f=$(mktemp)
    t0=$(date +%s%N)
    /usr/bin/time -o "$f" -f "%M" "$BIN/kvt" -q "$@" >"$d/$step.json" 2>"$d/$step.err" || rc=$?
    t1=$(date +%s%N)
    # Exit 1 is a data verdict (a tolerance, the quality gate): measured, reported.
    [ "$rc" -le 1 ] || { echo "kvt $* exited $rc (see $d/$step.err)" >&2; exit 1; }
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    rss=$(tail -1 "$f"); rm -f "$f"
    total=$(awk -v a="$total" -v b="$secs" 'BEGIN { printf "%.3f", a + b }')
    [ "$rss" -gt "$peak" ] && peak=$rss
    echo "$step $secs $rss" >> "$d/steps.txt"
  }
  for s in nginx firebase kyc crm logistics; do run_step "ingest-$s" ingest drive --source "$s"; done
  run_step ingest-kafka ingest kafka --topic payments,orders --idle-timeout 5s
  kill "$(cat "$d/broker/pid")" 2>/dev/null || true
  for s in crm firebase nginx logistics kyc payments orders; do run_step "silver-$s" silver "$s" --dev-key; done
  run_step gold gold --as-of 2026-03-17
  local gold_s=$secs gold_rss=$rss
  run_step load load --schema "bench_s$scale"
  local load_s=$secs
  run_step check check --schema "bench_s$scale"
  unset KVT_STORE KVT_NOW KVT_KAFKA_BROKERS
  # The peer: psql \copy of the same tables as CSV (written by DuckDB, not timed)
  # into plain tables of the same columns, one psql session, table after table.
  local py; py=$(duckdb_python)
  mkdir -p "$d/csv"
  "$py" - "$d/lake/gold" "$d/csv" <<'PY'
import duckdb, os, sys
gold, out = sys.argv[1:3]
con = duckdb.connect()
for t in sorted(os.listdir(gold)):
    if os.path.isdir(os.path.join(gold, t)) and not t.startswith("_"):
        con.execute(f"COPY (SELECT * FROM read_parquet('{gold}/{t}/**/*.parquet')) TO '{out}/{t}.csv' (HEADER, DELIMITER ',')")
PY
  # Peer 1: plain tables of the same columns (no key, index or foreign key).
  local peer="peer_s$scale" sqlf="$d/peer.sql"
  {
    echo "DROP SCHEMA IF EXISTS $peer CASCADE; CREATE SCHEMA $peer;"
    for f in "$d"/csv/*.csv; do
      t=$(basename "$f" .csv)
      echo "CREATE TABLE $peer.$t (LIKE bench_s$scale.$t);"
    done
  } > "$d/peer-ddl.sql"
  psql -X -q "$KVT_WAREHOUSE_URL" -f "$d/peer-ddl.sql" >/dev/null
  for f in "$d"/csv/*.csv; do
    t=$(basename "$f" .csv)
    echo "\\copy $peer.$t ($(head -1 "$f")) FROM '$f' WITH (FORMAT csv, HEADER true)"
  done > "$sqlf"
  sync
  read -r psql_s _ < <(measure_to "$d/psql.out" psql -X -q -v ON_ERROR_STOP=1 "$KVT_WAREHOUSE_URL" -f "$sqlf")
  # Peer 2, like for like: the warehouse schema itself (keys, indexes, foreign
  # keys; created by kvt's migrations in schema full_sN), replaced in one
  # transaction: TRUNCATE, then \copy every table.
  local full="full_s$scale"
  KVT_STORE="file://$d/lake" "$BIN/kvt" -q load --schema "$full" >/dev/null
  {
    echo "BEGIN;"
    echo "TRUNCATE $(for f in "$d"/csv/*.csv; do printf '%s.%s, ' "$full" "$(basename "$f" .csv)"; done | sed 's/, $//');"
    # Referenced tables first (the foreign keys are checked row by row).
    for t in dim_pays dim_canal dim_date dim_transporteur dim_produit dim_client fact_commande \
             $(ls "$d/csv" | sed 's/\.csv$//' | grep -vxE 'dim_pays|dim_canal|dim_date|dim_transporteur|dim_produit|dim_client|fact_commande'); do
      f="$d/csv/$t.csv"
      echo "\\copy $full.$t ($(head -1 "$f")) FROM '$f' WITH (FORMAT csv, HEADER true)"
    done
    echo "COMMIT;"
  } > "$d/full.sql"
  sync
  read -r full_s _ < <(measure_to "$d/full.out" psql -X -q -v ON_ERROR_STOP=1 "$KVT_WAREHOUSE_URL" -f "$d/full.sql")
  psql -X -q "$KVT_WAREHOUSE_URL" -c "DROP SCHEMA $peer CASCADE; DROP SCHEMA $full CASCADE; DROP SCHEMA IF EXISTS ${full}_staging CASCADE; DROP SCHEMA bench_s$scale CASCADE; DROP SCHEMA IF EXISTS bench_s${scale}_staging CASCADE" >/dev/null 2>&1
  cd "$ROOT"
  python3 - "$label" "$gold_s" "$gold_rss" "$load_s" "$psql_s" "$total" "$peak" "$d/load.json" "$d/check.json" "$d/gold.json" "$d/steps.txt" "$full_s" <<'PY'
import json, sys
scale = sys.argv[1]
gold_s, gold_rss, load_s, psql_s, total, peak = map(float, sys.argv[2:8])
full_s = float(sys.argv[12])
last = lambda p: json.loads(open(p).read().strip().splitlines()[-1])
load, check, gold = last(sys.argv[8]), last(sys.argv[9]), last(sys.argv[10])
steps = [l.split() for l in open(sys.argv[11])]
rows = load["rows"]
big, n = max(load["rows_per_table"].items(), key=lambda kv: kv[1])
big_ms = max(load["copy_ms_per_table"][big], 1)
print(f"| gold, {scale} | {len(load['rows_per_table'])} tables, {rows:,} rows ({gold_s:.2f} s) | | | peak RSS {gold_rss/1024:,.0f} MiB |")
print(f"| load, {scale}: {rows:,} rows into PostgreSQL 15 (private cluster) | {rows/load_s:,.0f} rows/s ({load_s:.2f} s whole process; "
      f"largest table {big} {n:,} rows copied at {n/(big_ms/1000):,.0f} rows/s) | psql \\copy CSV into the same schema (keys, indexes, FKs), one transaction: {rows/full_s:,.0f} rows/s ({full_s:.2f} s) | **{full_s/load_s:.2f}×** psql | |")
print(f"| (same run) load, {scale}, peer into bare tables | kvt {rows/load_s:,.0f} rows/s | psql \\copy CSV into plain tables (no key, index or FK): {rows/psql_s:,.0f} rows/s ({psql_s:.2f} s) | **{psql_s/load_s:.2f}×** psql | |")
print(f"| nightly chain, {scale}: {len(steps)} kvt processes, ingest → check | {total:.1f} s (slowest: "
      + ", ".join(f"{s} {float(t):.1f} s" for s, t, _ in sorted(steps, key=lambda x: -float(x[1]))[:3])
      + f"); check pass rate {check['pass_rate']*100:.1f} % | | | peak RSS {peak/1024:,.0f} MiB |")
PY
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$d"
}

machine
echo
echo "| benchmark | kvt | baseline (same run) | ratio | memory |"
echo "|---|---|---|---|---|"
# kvt fraud run: engine throughput per job (in memory), backtest over bronze
# (5 days x scale 20), live consumption vs a bare librdkafka consumer, live
# latency at 2,000 events/s, and a 2-hour event-time soak over 1 M keys.
bench_fraud() {
  local d=$WORK/fraud
  rm -rf "$d"; mkdir -p "$d"
  echo "engine throughput (1 M messages per job, one core)..." >&2
  "$BIN/examples/fraud_soak" throughput 1000000 > "$d/throughput.jsonl"
  echo "soak: 2 h of event time, 1 M keys..." >&2
  "$BIN/examples/fraud_soak" soak 2 1000000 > "$d/soak.jsonl"
  # Backtest over bronze: 5 days of events as kvt ingest kafka lands them.
  for day in 13 14 15 16 17; do
    "$BIN/kvt-gen" --date 2026-03-$day --sources events --scale 20 --seed $day --out "$d/gen-$day" -q
  done
  python3 - "$d" <<'PY'
import json, os, sys, zlib
d = sys.argv[1]
offsets = {}
os.makedirs(f"{d}/bronze", exist_ok=True)
outs = {}
for day in (13, 14, 15, 16, 17):
    for topic in ("payments", "orders", "kyc_decisions"):
        src = f"{d}/gen-{day}/events/{topic}"
        for name in sorted(os.listdir(src)):
            for line in open(os.path.join(src, name)):
                e = json.loads(line)
                key = e.get("key") or ""
                p = zlib.crc32(key.encode()) % 6
                o = offsets.get((topic, p), 0); offsets[(topic, p)] = o + 1
                env = {"topic": topic, "partition": p, "offset": o, "timestamp": e["ts"], "key": key}
                if "value" in e: env["value"] = e["value"]
                else: env["value_raw"] = e.get("value_raw", "")
                f = outs.get((topic, p))
                if f is None:
                    f = outs[(topic, p)] = open(f"{d}/bronze/{topic}-{p}.jsonl", "w")
                f.write(json.dumps(env, separators=(",", ":")) + "\n")
for f in outs.values(): f.close()
PY
  local counts; counts=$(python3 - "$d" <<'PY'
import json, sys, glob, collections
c = collections.Counter()
for f in glob.glob(f"{sys.argv[1]}/bronze/*.jsonl"):
    c[f.rsplit("/", 1)[1].rsplit("-", 1)[0]] += sum(1 for _ in open(f))
print(json.dumps(c))
PY
)
  : > "$d/backtest.txt"
  for job in payments orders advanced crossed kyc; do
    local f; f=$(mktemp)
    /usr/bin/time -o "$f" -f "%e %U %S %M" "$BIN/kvt" -q --store "file://$d/lake" fraud run "$job" --input "$d/bronze" --dry-run > "$d/bt-$job.out" 2>/dev/null
    echo "$job $(tail -1 "$f") $(tail -1 "$d/bt-$job.out" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["messages"])')" >> "$d/backtest.txt"
    rm -f "$f"
  done
  # Live: the payments job against tansu vs a bare consumer of the same topic.
  local brokers; brokers=$(start_tansu "$d/broker")
  "$BIN/kvt-gen" topics --brokers "$brokers" --topic-prefix f- >/dev/null
  "$BIN/kvt-gen" produce --events "$d/gen-17/events" --brokers "$brokers" --topic-prefix f- --topics payments >/dev/null
  local bare_out; bare_out=$("$BIN/examples/bare_consumer" "$brokers" f-payments)
  local f; f=$(mktemp)
  local t0 t1; t0=$(date +%s%N)
  /usr/bin/time -o "$f" -f "%M" "$BIN/kvt" -q --store "file://$d/live-lake" fraud run payments --brokers "$brokers" \
    --topic-prefix f- --from-beginning --exit-when-idle 2s > "$d/live.out" 2>/dev/null
  t1=$(date +%s%N)
  local live_rss; live_rss=$(tail -1 "$f"); rm -f "$f"
  local live_s; live_s=$(python3 -c "print(($t1 - $t0) / 1e9 - 2.0)")
  # Latency at 2,000 events/s: the payments job live on a fresh namespace.
  "$BIN/kvt-gen" topics --brokers "$brokers" --topic-prefix lat- >/dev/null
  "$BIN/kvt" -q --store "file://$d/lat-lake" fraud run payments --brokers "$brokers" --topic-prefix lat- \
    --checkpoint-interval 60s > "$d/lat-job.out" 2>"$d/lat-job.log" &
  local job_pid=$!
  for i in $(seq 1 100); do ls "$d"/lat-lake/fraud/payments/checkpoints/*.ckpt >/dev/null 2>&1 && break; sleep 0.1; done
  "$BIN/examples/fraud_latency" "$brokers" lat- 2000 "${FRAUD_LATENCY_SECONDS:-330}" > "$d/latency.json"
  local t_stop; t_stop=$(date +%s%N)
  kill -TERM "$job_pid"; wait "$job_pid" || true
  local stop_ms; stop_ms=$(( ($(date +%s%N) - t_stop) / 1000000 ))
  kill "$(cat "$d/broker/pid")" 2>/dev/null || true
  python3 - "$d" "$counts" "$bare_out" "$live_s" "$live_rss" "$stop_ms" <<'PY'
import json, sys
d, counts, bare, live_s, live_rss, stop_ms = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
print("| job | engine alone, 1 M messages (events/s, one core) | backtest over bronze, 5 days (events/s; CPU s; peak RSS) |")
print("|---|---|---|")
thr = {j["job"]: j for j in map(json.loads, open(f"{d}/throughput.jsonl"))}
for line in open(f"{d}/backtest.txt"):
    job, wall, user, sys_, rss, n = line.split()
    n, wall, cpu = int(n), float(wall), float(user) + float(sys_)
    print(f"| {job} | {thr[job]['events_per_sec']:,.0f} | {n:,} events in {wall:.1f} s = {n/wall:,.0f}/s ({n/cpu:,.0f} per CPU-second); peak RSS {int(rss)/1024:.0f} MiB |")
n = bare["messages"]
live = json.loads(open(f"{d}/live.out").read().strip().splitlines()[-1])
print(f"\n| live `payments` job from tansu, {n:,} messages | {n/live_s:,.0f} msg/s ({live_s:.1f} s), peak RSS {live_rss/1024:.0f} MiB | bare librdkafka consumer {n/bare['seconds']:,.0f} msg/s ({bare['seconds']:.1f} s) | **{bare['seconds']/live_s:.2f}×** bare |")
lat = json.load(open(f"{d}/latency.json"))
print(f"| live latency at {lat['rate']:,} events/s ({lat['events']:,} events) | direct alerts ({lat['direct_alerts']}): p50 {lat['direct_p50_ms']:.0f} ms, p99 {lat['direct_p99_ms']:.0f} ms, max {lat['direct_max_ms']:.0f} ms | window alerts ({lat['window_alerts']}) after the watermark passed the window end: p50 {lat['window_p50_ms']:.0f} ms, max {lat['window_max_ms']:.0f} ms | SIGTERM → exit (final checkpoint): {stop_ms} ms |")
print("\n| soak: 2 h of event time, 1 M keys, 3 M messages | events/s | RSS start → peak | state keys max → end | RSS per 10 min (MiB) | checkpoint of the end state |")
print("|---|---|---|---|---|---|")
for j in map(json.loads, open(f"{d}/soak.jsonl")):
    rss = " ".join(f"{r/1024:.0f}" for _, r, _ in j["samples_min_rss_keys"])
    print(f"| {j['job']} | {j['events_per_sec']:,.0f} | {j['rss_start_kib']/1024:.0f} → {j['rss_peak_kib']/1024:.0f} MiB | {j['max_state_keys']:,} → {j['final_state_keys']:,} | {rss} | {j['checkpoint_bytes']/1048576:.1f} MiB, encode {j['checkpoint_encode_s']*1000:.0f} ms, restore {j['restore_s']*1000:.0f} ms |")
PY
}

# kvt kyc: accuracy, review share and per-image latency on one core against the
# tesseract CLI (and PassportEye when it installs from PyPI), same images, same
# run; then kvt kyc serve's throughput with every core.
bench_kyc() {
  local d=$WORK/kyc
  rm -rf "$d"; mkdir -p "$d"
  machine
  "$BIN/kvt-gen" documents --out "$d/docs" --today 2026-12-03 --set test > /dev/null
  OMP_THREAD_LIMIT=1 "$BIN/examples/kyc_eval" "$d/docs" 2026-12-03 --tesseract-cli
  if python3 -m venv "$d/venv" >/dev/null 2>&1 && "$d/venv/bin/pip" install -q passporteye >/dev/null 2>&1; then
    OMP_THREAD_LIMIT=1 "$d/venv/bin/python" scripts/bench_passporteye.py "$d/docs" 2026-12-03 2>/dev/null
  else
    echo "(PassportEye did not install from PyPI: skipped)"
  fi
  local port=18099 cores; cores=$(nproc)
  "$BIN/kvt" -q kyc serve --listen 127.0.0.1:$port --workers "$cores" --queue 200 --timeout 120s > "$d/serve.out" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  local start end n
  start=$(date +%s.%N)
  n=$(ls "$d"/docs/*.png "$d"/docs/*.jpg | xargs -P $((cores * 2)) -I{} curl -s -H "Expect:" -o /dev/null -w "%{http_code}\n" \
      -F image=@{} -F order_id=B http://127.0.0.1:$port/kyc/verify | grep -c '^200$')
  end=$(date +%s.%N)
  local rss; rss=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
  kill -TERM $pid; wait $pid || true
  start_cli=$(date +%s.%N)
  ls "$d"/docs/*.png "$d"/docs/*.jpg | OMP_THREAD_LIMIT=1 xargs -P "$cores" -I{} tesseract {} - --psm 6 -l eng \
      -c tessedit_char_whitelist='ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<' > /dev/null 2>&1
  end_cli=$(date +%s.%N)
  python3 - "$n" "$start" "$end" "$rss" "$start_cli" "$end_cli" "$cores" <<'PY'
import sys
n, s, e, rss, s2, e2, cores = int(sys.argv[1]), *map(float, sys.argv[2:4]), int(sys.argv[4]), *map(float, sys.argv[5:7]), int(sys.argv[7])
print(f"| kvt kyc serve, {cores} workers, {n} documents from {cores*2} clients | {n/(e-s):.2f} documents/s | peak RSS {rss/1024:.0f} MiB | tesseract CLI, one pass, {cores} processes: {n/(e2-s2):.2f} images/s (no decision, no retry) |")
PY
}

case $what in
  ingest-drive) bench_ingest_drive ;;
  kyc) bench_kyc ;;
  fraud) bench_fraud ;;
  ingest-kafka) bench_ingest_kafka 1; bench_ingest_kafka 5 ;;
  silver) for src in nginx crm logistics kyc firebase payments orders; do
            for scale in 1 10 100; do bench_silver "$src" "$scale"; done
          done ;;
  chain) for scale in 1 10 100; do bench_chain "$scale"; done; bench_chain 1 100 ;;
  chain-history) bench_chain 1 100 ;;
  chain-*) bench_chain "${what#chain-}" ;;
  silver-history) for src in nginx logistics crm kyc; do bench_silver_history "$src"; done ;;
  silver-history-*) bench_silver_history "${what#silver-history-}" ;;
  silver-*) src=${what#silver-}; for scale in 1 10 100; do bench_silver "$src" "$scale"; done ;;
  all) bench_ingest_drive; bench_ingest_kafka 1; bench_ingest_kafka 5; bench_fraud; bench_kyc
       for src in nginx crm logistics kyc firebase payments orders; do
         for scale in 1 10 100; do bench_silver "$src" "$scale"; done
       done
       for src in nginx logistics crm kyc; do bench_silver_history "$src"; done
       for scale in 1 10 100; do bench_chain "$scale"; done; bench_chain 1 100 ;;
  *) echo "unknown benchmark $what" >&2; exit 2 ;;
esac
