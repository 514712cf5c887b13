#!/usr/bin/env bash
# Example: generate one day of synthetic sources into a drop directory and
# ingest every batch source into a local lake, twice (the second run moves
# nothing). Run from anywhere; uses the release binaries (KVT_BIN_DIR, else
# $CARGO_TARGET_DIR/release, else target/release). CI runs it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${KVT_BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$bin/kvt-gen" --date 2026-03-17 --scale 0.02 --seed 7 --out drop >/dev/null
export KVT_STORE="file://$work/lake" KVT_QUIET=true
for s in nginx firebase kyc crm logistics; do
  first=$("$bin/kvt" ingest drive --source "$s" | tail -1)
  second=$("$bin/kvt" ingest drive --source "$s" | tail -1)
  echo "$s: $(python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); print(a["files_transferred"], "files landed,", b["files_transferred"], "moved on the second run")' "$first" "$second")"
done
