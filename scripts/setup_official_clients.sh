#!/usr/bin/env bash
# Install the official Mem0 clients the compatibility tests drive, pinned, into a cache dir:
#   $ENGRAM_MEM0AI_VENVS/mem0ai-1x, mem0ai-2x  Python mem0ai 1.0.11 / 2.2.1 (mem0ai-venvs.sh)
#   $ENGRAM_MEM0AI_VENVS/mem0-cli              Python mem0-cli 0.2.13 (a PyPI package)
#   $ENGRAM_MEM0AI_VENVS/mem0ai-ts             the TypeScript SDK, npm mem0ai 3.3.1
# Default location: .cache/ in the repository. Idempotent: what already has the pinned
# version is left alone. scripts/test.sh runs it; the tests' fixtures run it again (a no-op
# then). A missing tool (python venv, node, npm) fails here, naming it: nothing is skipped.
set -euo pipefail

MEM0_CLI="${MEM0_CLI:-0.2.13}"
MEM0AI_TS="${MEM0AI_TS:-3.3.1}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="${ENGRAM_MEM0AI_VENVS:-$repo/.cache}"
python="${PYTHON:-python3}"

bash "$repo/scripts/mem0ai-venvs.sh"

cli="$root/mem0-cli"
if [ "$("$cli/bin/python" -c 'import importlib.metadata as m; print(m.version("mem0-cli"))' 2>/dev/null)" != "$MEM0_CLI" ]; then
    rm -rf "$cli"
    "$python" -m venv "$cli"
    "$cli/bin/python" -m pip install --quiet --disable-pip-version-check "mem0-cli==$MEM0_CLI"
    "$cli/bin/mem0" --help >/dev/null # fails here, not in a test, if broken
    echo "created: $cli with mem0-cli $MEM0_CLI"
fi

for tool in node npm; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (the TypeScript SDK test needs Node.js and npm)" >&2; exit 1; }
done
ts="$root/mem0ai-ts"
have="$(node -p "require('$ts/node_modules/mem0ai/package.json').version" 2>/dev/null || true)"
if [ "$have" != "$MEM0AI_TS" ]; then
    rm -rf "$ts"
    mkdir -p "$ts"
    echo '{"name": "engram-mem0ai-ts", "private": true}' >"$ts/package.json"
    npm install --prefix "$ts" --no-audit --no-fund --ignore-scripts --loglevel=error "mem0ai@$MEM0AI_TS" >/dev/null
    node -e "require('$ts/node_modules/mem0ai')" # fails here, not in a test, if broken
    echo "created: $ts with mem0ai $MEM0AI_TS (npm)"
fi
