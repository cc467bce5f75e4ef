# Shared by quickstart.sh and test.sh: make .venv and install tracelake into it, once per change.
# Usage: source scripts/_venv.sh EXTRAS   (e.g. "" or "dev")
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TRACELAKE_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
# Re-install only when pyproject.toml (the dependency list) or the extras changed.
STAMP="$VENV/.tracelake-installed"
WANT="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)-$EXTRAS"
if [ ! -f "$STAMP" ] || ! grep -qx -- "$WANT" "$STAMP"; then
  SPEC="$ROOT"
  [ -n "$EXTRAS" ] && SPEC="$ROOT[$EXTRAS]"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$SPEC"
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
