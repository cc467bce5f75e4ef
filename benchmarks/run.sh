#!/usr/bin/env bash
# Run every benchmark in the benchmarks' own virtualenv and print the markdown report.
# Usage: bash benchmarks/run.sh [--quick]
# Writes benchmarks/out/<timestamp>/*.json and report.md (git-ignored); takes about 20 minutes on 2 cores once the
# issue-3 datasets are cached (the first run builds them: 10 more minutes; --quick: about 6).
# Env: BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432/postgres; empty skips PostgreSQL).
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

# Issue 3: the tracking server. PostgreSQL cases run when a server answers at $BENCH_POSTGRES (set it
# empty to skip them). The search and metrics datasets (100,000 and 1,000,000 traces) are built once
# and cached under benchmarks/out/datasets/ and in PostgreSQL databases tracelake_bench_<version>_<N>;
# the first run builds them (about 10 minutes on 2 cores), later runs reuse them.
POSTGRES="${BENCH_POSTGRES-postgresql://postgres@127.0.0.1:5432/postgres}"
PG_ARGS=()
if [ -n "$POSTGRES" ] && "$PY" -c 'import sys, psycopg; psycopg.connect(sys.argv[1], connect_timeout=3).close()' "$POSTGRES" 2>/dev/null; then
  PG_ARGS=(--postgres "$POSTGRES")
else
  echo "PostgreSQL not reachable at '$POSTGRES': its cases are skipped" >&2
fi
"$PY" "$HERE/bench_ingest.py" "$@" "${PG_ARGS[@]}" --json "$OUT/ingest.json" >/dev/null
"$PY" "$HERE/bench_search.py" "$@" "${PG_ARGS[@]}" --json "$OUT/search.json" >/dev/null
"$PY" "$HERE/bench_metrics.py" "$@" "${PG_ARGS[@]}" --json "$OUT/metrics.json" >/dev/null

"$PY" "$HERE/report.py" "$OUT" | tee "$OUT/report.md"
