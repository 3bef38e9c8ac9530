#!/usr/bin/env bash
# Install the official Mem0 clients the compatibility tests drive, pinned, into a cache dir:
#   $ENGRAM_MEM0AI_VENVS/mem0ai-1x, mem0ai-2x  Python mem0ai 1.0.11 (the last 1.0.x) / 2.2.1
#   $ENGRAM_MEM0AI_VENVS/mem0-cli              Python mem0-cli 0.2.13 (a PyPI package)
#   $ENGRAM_MEM0AI_VENVS/mem0ai-ts             the TypeScript SDK, npm mem0ai 3.3.1
# Default location: .cache/ in the repository. Idempotent: what already has the pinned
# version is left alone. scripts/test.sh runs it; the tests' fixtures run it again (a no-op
# then). A missing tool (python venv, node, npm) fails here, naming it: nothing is skipped.
set -euo pipefail

MEM0AI_1X="${MEM0AI_1X:-1.0.11}"
MEM0AI_2X="${MEM0AI_2X:-2.2.1}"
MEM0_CLI="${MEM0_CLI:-0.2.13}"
MEM0AI_TS="${MEM0AI_TS:-3.3.1}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="${ENGRAM_MEM0AI_VENVS:-$repo/.cache}"
python="${PYTHON:-python3}"

# python_venv DIR DISTRIBUTION VERSION CHECK: a venv with DISTRIBUTION==VERSION installed;
# CHECK (a command run in it) fails here, not in a test, if the install is broken
python_venv() {
    local dir="$1" dist="$2" version="$3" check="$4"
    if [ "$("$dir/bin/python" -c "import importlib.metadata as m; print(m.version('$dist'))" 2>/dev/null)" = "$version" ]; then
        echo "ok: $dir has $dist $version"
        return
    fi
    rm -rf "$dir"
    "$python" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$dist==$version"
    (cd "$dir" && eval "$check") >/dev/null
    echo "created: $dir with $dist $version"
}

mkdir -p "$root"
python_venv "$root/mem0ai-1x" mem0ai "$MEM0AI_1X" "bin/python -c 'import mem0.client.main'"
python_venv "$root/mem0ai-2x" mem0ai "$MEM0AI_2X" "bin/python -c 'import mem0.client.main'"
python_venv "$root/mem0-cli" mem0-cli "$MEM0_CLI" "bin/mem0 --help"

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
else
    echo "ok: $ts has mem0ai $MEM0AI_TS (npm)"
fi
