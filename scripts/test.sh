#!/usr/bin/env bash
# The project's one test command: installs what the tests need, then runs lint and pytest.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
bash scripts/setup_chromium.sh  # Debian's chromium for the dashboard's browser test
.venv/bin/ruff check .
# the official Mem0 clients the compatibility tests drive (Python, TypeScript, CLI)
bash scripts/setup_official_clients.sh
# -p no:cacheprovider keeps a read-only checkout clean; the timeout stops a hung test.
exec .venv/bin/python -m pytest -p no:cacheprovider -q "$@"
