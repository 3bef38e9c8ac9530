"""Make engram/embeddings/assets/e5_center.npy: the mean direction of multilingual-e5-small.

    .venv/bin/python bench/e5_center.py [--out PATH]

The mean of the raw (uncentred) e5 vectors of an equal number of English and Chinese
sentences: English chat turns from LoCoMo's development half, Chinese lines of the
tutorial in shared/seeds. Only the 384 averaged numbers are kept, no text.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engram.embeddings.e5_multilingual import CENTER_PATH, MultilingualEmbedder  # noqa: E402

# shared/ sits beside the checkout (or one level up, from a worktree)
SHARED = next((p / "shared" for p in ROOT.parents if (p / "shared").is_dir()), ROOT / "shared")
LOCOMO = SHARED / "data" / "locomo" / "locomo-dev.json"
SEED = SHARED / "seeds" / "000_71eb8330fda4914e.txt"
_HAN = re.compile(r"[\u4e00-\u9fff]")


def chinese_lines() -> list[str]:
    lines = (line.strip() for line in SEED.read_text().splitlines())
    return [line for line in lines if len(_HAN.findall(line)) >= 6]


def english_turns(n: int) -> list[str]:
    samples = json.loads(LOCOMO.read_text())
    turns = [t["text"] for s in samples for key, session in s["conversation"].items()
             if key.startswith("session_") and isinstance(session, list)
             for t in session]  # fmt: skip
    step = max(1, len(turns) // n)
    return turns[::step][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CENTER_PATH)
    args = parser.parse_args()
    zh = chinese_lines()
    en = english_turns(len(zh))
    raw = MultilingualEmbedder(center=False).embed(zh + en)
    center = raw.mean(axis=0).astype(np.float32)
    np.save(args.out, center)
    print(f"{len(zh)} Chinese + {len(en)} English texts -> {args.out} (|mean| = "
          f"{np.linalg.norm(center):.3f})")


if __name__ == "__main__":
    main()
