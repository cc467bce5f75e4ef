#!/usr/bin/env bash
# Run every benchmark in the benchmarks' own virtualenv and print the markdown report.
# Usage: bash benchmarks/run.sh [--quick]
# Writes benchmarks/out/<timestamp>/*.json and report.md (git-ignored); takes 10-15 minutes on 2 cores (--quick: 4).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/setup.sh"
PY="${BENCH_VENV:-$HERE/.venv-mlflow}/bin/python"
OUT="$HERE/out/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
echo "results: $OUT" >&2
cat /proc/loadavg > "$OUT/loadavg-start.txt" 2>/dev/null || true

"$PY" "$HERE/bench_import.py" "$@" --json "$OUT/import.json" >/dev/null
"$PY" "$HERE/bench_overhead.py" "$@" --json "$OUT/overhead.json" >/dev/null
# The store in the system's temp folder (a disk), then on tmpfs when there is one: the difference is
# what the filesystem's metadata operations cost.
"$PY" "$HERE/bench_persist.py" "$@" --json "$OUT/persist.json" >/dev/null
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  "$PY" "$HERE/bench_persist.py" "$@" --dir /dev/shm --json "$OUT/persist-tmpfs.json" >/dev/null
fi
"$PY" "$HERE/bench_burst.py" "$@" --json "$OUT/burst.json" >/dev/null

"$PY" "$HERE/report.py" "$OUT" | tee "$OUT/report.md"
