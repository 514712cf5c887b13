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

machine
echo
echo "| benchmark | kvt | baseline (same run) | ratio | memory |"
echo "|---|---|---|---|---|"
case $what in
  ingest-drive|all) bench_ingest_drive ;;
  *) echo "unknown benchmark $what" >&2; exit 2 ;;
esac
