"""export -> import copies a store exactly, and an import can be re-run without duplicates."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from engram.memory import Memory
from engram.models import utcnow
from engram.stores.base import Query
from engram.transfer import export_memories, import_memories


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGRAM_HOME", str(tmp_path / "home"))
    for name in ("ENGRAM_LLM_MODEL", "ENGRAM_DATABASE"):
        monkeypatch.delenv(name, raising=False)


def _open(path: Path) -> Memory:
    return Memory({"database": str(path)})


def _snapshot(memory: Memory) -> dict[str, tuple]:
    """Every row, active or not, with its full history and vector."""
    store = memory.store
    rows = [r for r, _ in store.query(Query(memory.project_id, None, "", limit=10_000,
                                            include_inactive=True))]  # fmt: skip
    vectors = store.vectors(memory.project_id, [r.id for r in rows])
    return {
        r.id: (r, [h.__dict__ for h in store.history(memory.project_id, r.id)],
               vectors[r.id].tolist())
        for r in rows
    }  # fmt: skip


@pytest.fixture
def source(tmp_path: Path) -> Memory:
    memory = _open(tmp_path / "source.db")
    memory.project.update(custom_categories=[{"goals": "Race targets"},
                                             {"constraints": "Injuries"}])  # fmt: skip
    memory.add("I want to run a marathon in under 4 hours", user_id="max")
    memory.add("Actually I want to run a sub-3:45 marathon now", user_id="max")  # UPDATE
    memory.add("10x400m intervals", user_id="max", run_id="boston-2025", infer=False,
               metadata={"workout_type": "speed", "intensity": "high"})  # fmt: skip
    memory.add("Rolled my left ankle, needs rest", user_id="max",
               expiration_date=utcnow() + timedelta(days=14))  # fmt: skip
    memory.add([{"role": "system", "content": "Direct feedback. No fluff."}], agent_id="ray")
    knee = memory.add("My right knee flares up on downhills", user_id="max")["results"][0]
    memory.update(knee["id"], metadata={"side": "right"})
    yield memory
    memory.close()


def test_roundtrip_is_exact(source: Memory, tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    assert export_memories(source, dump) == len(_snapshot(source))
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    goal = next(ln for ln in lines if "3:45" in ln["memory"])
    assert [h["event"] for h in goal["history"]] == ["ADD", "UPDATE"]
    assert goal["embedding_model"] and len(goal["embedding"]) == 384

    with _open(tmp_path / "target.db") as target:
        report = import_memories(target, dump)
        assert (report.imported, report.skipped, report.reembedded) == (len(lines), 0, 0)
        assert _snapshot(target) == _snapshot(source)
        # the copy works as a store, not just as rows: search finds the knee by meaning
        hit = target.search("knee pain downhill", user_id="max", limit=1)["results"][0]
        assert hit["memory"] == "Max's right knee flares up on downhills"
        assert hit["metadata"] == {"side": "right"}


def test_rerunning_an_interrupted_import_creates_no_duplicates(
    source: Memory, tmp_path: Path
) -> None:
    dump = tmp_path / "dump.jsonl"
    export_memories(source, dump, embeddings=False)
    lines = dump.read_text().splitlines(keepends=True)
    half = tmp_path / "half.jsonl"  # what an import killed half-way had got through
    half.write_text("".join(lines[: len(lines) // 2]))

    with _open(tmp_path / "target.db") as target:
        import_memories(target, half)
        report = import_memories(target, dump)
        assert report.skipped == len(lines) // 2
        assert report.imported == len(lines) - len(lines) // 2
        again = import_memories(target, dump, overwrite=True)
        assert again.imported == len(lines)
        expected, copied = _snapshot(source), _snapshot(target)
        assert copied.keys() == expected.keys()
        for memory_id, (record, history, _) in expected.items():
            assert copied[memory_id][0] == record
            assert copied[memory_id][1] == history  # no history entry written twice
            # exported without embeddings: recomputed from the text alone (the conversation
            # blended in at add time is not in an export)
            recomputed = target.embedder.embed([record.memory])[0]
            assert np.allclose(copied[memory_id][2], recomputed, atol=1e-5)


def test_embeddings_from_another_model_are_recomputed(source: Memory, tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    export_memories(source, dump)
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    for line in lines:
        line["embedding_model"] = "someone-elses-model"
        line["embedding"] = [0.0] * len(line["embedding"])
    dump.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with _open(tmp_path / "target.db") as target:
        assert import_memories(target, dump).reembedded == len(lines)
        for record, _, vector in _snapshot(target).values():
            assert np.allclose(vector, target.embedder.embed([record.memory])[0], atol=1e-5)


def test_a_file_that_is_not_an_export_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"hello": 1}\n')
    with _open(tmp_path / "target.db") as target, pytest.raises(ValueError, match="line 1"):
        import_memories(target, bad)


def test_reimport_after_a_delete_in_the_target_keeps_history_single(
    source: Memory, tmp_path: Path
) -> None:
    dump = tmp_path / "dump.jsonl"
    export_memories(source, dump)
    with _open(tmp_path / "target.db") as target:
        import_memories(target, dump)
        victim = target.get_all(user_id="max")["results"][0]["id"]
        target.delete(victim)  # the row goes, its history (now ending in DELETE) stays
        assert import_memories(target, dump).imported == 1
        events = [h["event"] for h in target.history(victim)]
        assert events.count("ADD") == 1 and events[-1] == "DELETE"


def test_import_into_another_project_of_the_same_database(tmp_path: Path) -> None:
    source = _open(tmp_path / "one.db")
    kept = source.add("Max prefers trail running", user_id="max", infer=False)["results"][0]
    export_memories(source, tmp_path / "out.jsonl")
    copy = source.for_project("copy")
    import_memories(copy, tmp_path / "out.jsonl")
    copy.update(kept["id"], "Max prefers road running")
    assert source.get(kept["id"])["memory"] == "Max prefers trail running"
    assert copy.get(kept["id"])["memory"] == "Max prefers road running"
    assert [h["event"] for h in source.history(kept["id"])] == ["ADD"]
    source.close()
