#!/usr/bin/env bash
# Set up tracelake (once) and run it on its embedded default: example traces, then their summary.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" ""
cd "$ROOT"
tracelake quickstart "$@"
