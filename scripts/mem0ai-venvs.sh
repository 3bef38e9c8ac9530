#!/usr/bin/env bash
# Create the two reference venvs with the official mem0ai clients, pinned:
#   $ENGRAM_MEM0AI_VENVS/mem0ai-1x  (mem0ai 1.0.11, the last 1.0.x)
#   $ENGRAM_MEM0AI_VENVS/mem0ai-2x  (mem0ai 2.2.1)
# Default location: .cache/ in the repository. Idempotent: a venv that already has the
# pinned version is left alone. The compatibility tests call this from a session fixture.
set -euo pipefail

MEM0AI_1X="${MEM0AI_1X:-1.0.11}"
MEM0AI_2X="${MEM0AI_2X:-2.2.1}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="${ENGRAM_MEM0AI_VENVS:-$repo/.cache}"
python="${PYTHON:-python3}"

make_venv() {
    local dir="$1" version="$2"
    if [ -x "$dir/bin/python" ] &&
        [ "$("$dir/bin/python" -c 'import importlib.metadata as m; print(m.version("mem0ai"))' 2>/dev/null)" = "$version" ]; then
        echo "ok: $dir has mem0ai $version"
        return
    fi
    rm -rf "$dir"
    "$python" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "mem0ai==$version"
    "$dir/bin/python" -c 'import mem0.client.main' # fails here, not in a test, if broken
    echo "created: $dir with mem0ai $version"
}

mkdir -p "$root"
make_venv "$root/mem0ai-1x" "$MEM0AI_1X"
make_venv "$root/mem0ai-2x" "$MEM0AI_2X"
