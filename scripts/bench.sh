#!/usr/bin/env bash
# Benchmarks of kvt (make bench). Prints markdown rows for docs/benchmarks.md.
# Usage: scripts/bench.sh [ingest-drive|all]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/target/release
WORK=${BENCH_DIR:-$ROOT/target/bench}
what=${1:-all}

machine() {
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(lscpu | sed -n 's/^Model name: *//p'), $(uname -r)"
  echo "Date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
}

# seconds and peak RSS (KiB) of a command: prints "secs rss_kib"
measure() {
  local out
  out=$( { /usr/bin/time -f "%e %M" "$@" >/dev/null 2>/dev/null; } 2>&1 | tail -1 )
  echo "$out"
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
  sync
  # Warm the page cache equally for both contenders.
  cat "$d"/drop/many/*/* > /dev/null
  read -r cp_s cp_rss < <(measure cp -r "$d/drop/many" "$d/cp-copy")
  rm -rf "$d/cp-copy"; sync
  cd "$d"
  read -r kvt_s kvt_rss < <(measure env KVT_STORE="file://$d/lake" "$BIN/kvt" -q ingest drive --source many)
  local files mb
  files=1000; mb=1000
  read -r cp2_s _ < <(measure cp -r "$d/drop/many" "$d/cp-copy2")
  rm -rf "$d/cp-copy2"
  cat "$d"/drop/big/one-gib.bin > /dev/null
  read -r big_s big_rss < <(measure env KVT_STORE="file://$d/lake-big" "$BIN/kvt" -q ingest drive --source big)
  read -r cpbig_s _ < <(measure cp "$d/drop/big/one-gib.bin" "$d/cp-big")
  rm -f "$d/cp-big"
  cd "$ROOT"
  local cp_best; cp_best=$(python3 -c "print(min($cp_s, $cp2_s))")
  python3 - "$kvt_s" "$cp_best" "$kvt_rss" "$big_s" "$big_rss" "$cpbig_s" <<'PY'
import sys
kvt, cp, rss, big, bigrss, cpbig = map(float, sys.argv[1:])
mib = 1000.0
print("| ingest drive, 1,000 files / 1,000 MiB, local dir → file:// lake | "
      f"{mib/kvt:.0f} MiB/s, {1000/kvt:.0f} files/s ({kvt:.2f} s) | cp -r: {mib/cp:.0f} MiB/s ({cp:.2f} s) | "
      f"**{cp/kvt:.2f}×** cp | peak RSS {rss/1024:.0f} MiB |")
print("| ingest drive, one 1 GiB file | "
      f"{1024/big:.0f} MiB/s ({big:.2f} s) | cp: {1024/cpbig:.0f} MiB/s ({cpbig:.2f} s) | "
      f"**{cpbig/big:.2f}×** cp | peak RSS {bigrss/1024:.0f} MiB |")
PY
  rm -rf "$d"
}

machine
echo
echo "| benchmark | kvt | baseline (same run) | ratio | memory |"
echo "|---|---|---|---|---|"
case $what in
  ingest-drive|all) bench_ingest_drive ;;
  *) echo "unknown benchmark $what" >&2; exit 2 ;;
esac
