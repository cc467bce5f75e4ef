#!/usr/bin/env bash
# Set up tracelake (once) and run it on its embedded default: an example agent's traces, their
# summary, then the web UI over them at http://127.0.0.1:5000 (Ctrl-C stops it).
# Usage: bash scripts/quickstart.sh [--no-ui] [quickstart options, e.g. --traces 20]
#   --no-ui    stop after the summary instead of serving the UI (scripts, CI)
#   PORT=5001  serve the UI on another port
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "server"
cd "$ROOT"
serve_ui=1
args=()
for arg in "$@"; do
  if [ "$arg" = "--no-ui" ]; then serve_ui=0; else args+=("$arg"); fi
done
tracelake quickstart "${args[@]+"${args[@]}"}"
if [ "$serve_ui" = "1" ]; then
  port="${PORT:-5000}"
  echo
  echo "The web UI: http://127.0.0.1:$port/  (trace explorer, trace detail, sessions, dashboard; Ctrl-C stops it)"
  exec tracelake server --host 127.0.0.1 --port "$port"
fi
