"""Long extractions are bounded and isolated (issue 14): an infer=True add past the size cap
is refused naming the message; text reaches spaCy in bounded pieces (E088 never surfaces);
the parser is handed out first come first served, so another project's small add does not
wait behind the whole of a big one; the add's deadline stops a long extraction."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from spacy.language import Language
from spacy.tokens import Doc

from engram import deadline
from engram.errors import BackendError, InvalidInputError
from engram.extraction import bounds
from engram.extraction.offline import OfflineExtractor
from engram.memory import Memory

PARSED: list[tuple[int, int]] = []  # (thread, characters) of every spaCy parse, when logged
STARTED: list[int] = []  # the thread of every spaCy parse begun
SENTENCES = [
    "I ran {n} km along the river on Tuesday with my friend Sam.",
    "My coach wants me to keep the easy runs under {n} beats per minute.",
    "I have been eating oatmeal with {n} grams of berries before long runs.",
    "My left knee felt sore after the {n} km tempo session.",
]


def chat_text(chars: int) -> str:
    """One long line of varied chat sentences, `chars` characters long."""
    out, n = [], 0
    while sum(len(s) + 1 for s in out) < chars:
        out.append(SENTENCES[n % len(SENTENCES)].format(n=n + 3))
        n += 1
    return " ".join(out)[:chars]


@pytest.fixture
def memory(embedder, tmp_path: Path):
    with Memory({"database": str(tmp_path / "m.db")}, embedder=embedder) as m:
        yield m


def test_an_infer_add_past_the_cap_is_refused_naming_the_message(memory) -> None:
    half = "I like tea. " * (bounds.MAX_INFER_CHARS // 24 + 1)
    messages = [{"role": "user", "content": half}, {"role": "user", "content": half}]
    with pytest.raises(InvalidInputError, match="infer=true") as info:
        memory.add(messages, user_id="max")
    assert info.value.field == "messages[1].content"
    assert memory.get_all(user_id="max")["results"] == []
    stored = memory.add(messages, user_id="max", infer=False)["results"]  # as given: fine
    assert len(stored) == 2


def test_pieces_are_bounded_and_lose_no_text() -> None:
    text = chat_text(9_000) + " " + "x" * 5_000 + " 。".join(["我今天跑了十公里"] * 400)
    parts = list(bounds.pieces(text, 1_000))
    assert all(0 < len(p) <= 1_000 for p in parts)
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")
    assert list(bounds.pieces("short", 1_000)) == ["short"]


def test_a_line_past_spacys_max_length_is_parsed_in_pieces() -> None:
    extractor = OfflineExtractor()
    extractor._pipeline().max_length = 3_000  # what a 1,000,000-character line is to the default
    facts = extractor.extract([{"role": "user", "content": chat_text(8_000)}], subject="Max")
    assert any("river" in f for f in facts) and any("oatmeal" in f for f in facts)


@Language.component("engram_test_parse_start")
def _log_start(doc: Doc) -> Doc:
    STARTED.append(threading.get_ident())
    return doc


@Language.component("engram_test_parse_end")
def _log_end(doc: Doc) -> Doc:
    PARSED.append((threading.get_ident(), len(doc.text)))
    return doc


def test_a_big_add_does_not_hold_up_another_projects_small_add(memory) -> None:
    """Project B's small add, started once A's big add is parsing, gets the parser before A
    has parsed half of its text: it is handed over between pieces, first come first served
    (before the pieces, B waited for the whole of A's line). Measured in the order of the
    parses, not in seconds: B's other steps share the CPU with A, as any two adds do."""
    memory.for_project("b").add("warm up", user_id="max")
    nlp = memory._engine.extractor._english._pipeline()
    nlp.add_pipe("engram_test_parse_start", first=True)
    nlp.add_pipe("engram_test_parse_end", last=True)
    big = " ".join(SENTENCES).format(n=5) * 100  # ~25,000 characters, four facts
    a_thread: list[int] = []

    def add_big() -> None:
        a_thread.append(threading.get_ident())
        memory.for_project("a").add(big, user_id="max")

    PARSED.clear()
    STARTED.clear()
    worker = threading.Thread(target=add_big)
    worker.start()
    while not STARTED and worker.is_alive():  # until A is parsing
        time.sleep(0.002)
    memory.for_project("b").add("I like green tea", user_id="max")
    worker.join()

    a_parsed = sum(n for t, n in PARSED if t in a_thread)
    b_parse = next(i for i, (t, _) in enumerate(PARSED) if t not in a_thread)
    a_parsed_before_b = sum(n for t, n in PARSED[:b_parse] if t in a_thread)
    assert a_parsed >= len(big) - 200  # A parsed all of its text (less the spaces cut)
    assert a_parsed_before_b < a_parsed / 2, (a_parsed_before_b, a_parsed)
    assert memory.for_project("b").get_all(user_id="max")["results"]
    assert memory.for_project("a").get_all(user_id="max")["results"]


def test_the_deadline_stops_a_long_extraction_and_stores_nothing(embedder, tmp_path) -> None:
    config = {"database": str(tmp_path / "m.db"), "add_timeout": 0.5}
    with Memory(config, embedder=embedder) as m:
        m.add("warm up the parser", user_id="warm")
        with pytest.raises(BackendError, match="time budget"):
            m.add(chat_text(bounds.MAX_INFER_CHARS), user_id="max")
        assert [r["memory"] for r in m.get_all(user_id="max")["results"]] == []


def test_the_fair_lock_serves_waiters_in_order() -> None:
    lock, order = bounds.FairLock(), []
    lock.acquire()
    threads = []
    for i in range(5):
        t = threading.Thread(target=lambda i=i: (lock.acquire(), order.append(i), lock.release()))
        t.start()
        threads.append(t)
        while len(lock._waiting) < i + 1:  # each is queued before the next one asks
            threading.Event().wait(0.001)
    lock.release()
    for t in threads:
        t.join()
    assert order == [0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError):
        lock.release()
    assert deadline.remaining() is None
