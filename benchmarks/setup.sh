#!/usr/bin/env bash
# Create (or refresh) the benchmarks' own virtualenv: MLflow 3 from PyPI plus tracelake (editable, with
# its server and PostgreSQL extras).
# Idempotent: a second run with an unchanged pyproject.toml and MLFLOW_SPEC does nothing.
# Usage: bash benchmarks/setup.sh        Env: PYTHON (default python3), BENCH_VENV, MLFLOW_SPEC.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV="${BENCH_VENV:-$HERE/.venv-mlflow}"
PYTHON="${PYTHON:-python3}"
MLFLOW_SPEC="${MLFLOW_SPEC:-mlflow>=3,<4}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
fi

STAMP="$VENV/.bench-installed"
# tracelake with the server (bench_ingest, bench_search's REST cases) and PostgreSQL (psycopg) extras.
EXTRAS="server,postgres"
WANT="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1) $MLFLOW_SPEC [$EXTRAS]"
if [ ! -f "$STAMP" ] || ! grep -qxF -- "$WANT" "$STAMP"; then
  echo "installing $MLFLOW_SPEC and tracelake (editable) into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$MLFLOW_SPEC" -e "$ROOT[$EXTRAS]"
  echo "$WANT" > "$STAMP"
fi
"$VENV/bin/python" -c 'import mlflow, tracelake, opentelemetry.sdk; print("mlflow", mlflow.__version__, "tracelake", tracelake.__version__)' >&2
