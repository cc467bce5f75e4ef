#!/usr/bin/env bash
# Set up everything the tests need (once) and run lint, format check, type check, architecture
# contracts and the whole test suite. PostgreSQL tests run when a server answers at
# TRACELAKE_TEST_POSTGRES_URL (default: postgresql://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "dev"
cd "$ROOT"
export TRACELAKE_TEST_POSTGRES_URL="${TRACELAKE_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
if ! python - "$TRACELAKE_TEST_POSTGRES_URL" <<'PY'
import sys, psycopg
try:
    psycopg.connect(sys.argv[1], connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL not reachable ({exc}); its tests are skipped", file=sys.stderr)
    sys.exit(1)
PY
then
  if [ "${CI:-}" = "true" ]; then
    echo "CI must test PostgreSQL: no server answers at $TRACELAKE_TEST_POSTGRES_URL" >&2
    exit 1
  fi
  unset TRACELAKE_TEST_POSTGRES_URL
fi
# The web UI's browser tests drive Debian's Chromium: install it when missing and we may (root).
# Without it they are skipped, except in CI (CI=true), where they fail (tests/ui/conftest.py).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } ||
    echo "could not install chromium; the browser tests will say so" >&2
fi
echo "== ruff"; ruff check .; ruff format --check .
echo "== mypy"; mypy
echo "== import contracts"; lint-imports
echo "== pytest"; python -m pytest "$@"
