"""`engram demo`: the tutorial's story of Ray, the running coach who remembers Max, end to end.

Runs on the embedded default (SQLite + offline models): no key, no network, a few seconds.
Each step shows what was retrieved, what was stored or skipped and why, and checks the
outcome the tutorial promises. Replies come from the LLM named by ENGRAM_LLM_MODEL when
set, otherwise from the offline responder, which shows the prompt it would send.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from engram.chat import ConversationBuffer, Turn, chat_turn, llm_from_env
from engram.models import utcnow

USER = "max"
CUSTOM_INSTRUCTIONS = """Extract from running coach conversations:
- Training goals and race targets
- Physical constraints or injuries
- Training preferences (time of day, surfaces, weather)
- Progress milestones
Exclude:
- Greetings and filler
- Casual chatter
- Hypotheticals unless planning related"""
CUSTOM_CATEGORIES = [
    {"goals": "Race targets and training objectives"},
    {"constraints": "Injuries, limitations, recovery needs"},
    {"preferences": "Training style, surfaces, schedules"},
]
CONSTRAINTS_FILTER = {"AND": [{"user_id": USER}, {"categories": {"in": ["constraints"]}}]}


@dataclass
class Story:
    """What the steps share: the open Memory, the app's short-term buffer, found ids."""

    console: Console
    database: Path
    plain: bool
    llm: Any = None
    memory: Any = None
    buffer: ConversationBuffer = field(default_factory=ConversationBuffer)
    ids: dict[str, str] = field(default_factory=dict)
    checks: list[tuple[str, bool]] = field(default_factory=list)

    def open(self, clock: Callable[[], datetime] = utcnow) -> Any:
        from engram.memory import Memory  # loads numpy and the models: only when run

        return Memory({"database": str(self.database)}, clock=clock)

    def check(self, what: str, ok: bool) -> None:
        self.checks.append((what, ok))
        mark = ("OK" if ok else "MISS") if self.plain else ("[green]✓[/]" if ok else "[red]✗[/]")
        self.console.print(f"  {mark} {what}")

    def chat(self, text: str, **kwargs: Any) -> Turn:
        turn = chat_turn(text, memory=self.memory, user_id=USER, llm=self.llm,
                         buffer=self.buffer, **kwargs)  # fmt: skip
        show_turn(self, turn)
        return turn


# ---------------------------------------------------------------------------- display


def _table(story: Story, title: str, *columns: str) -> Table:
    style = box.ASCII if story.plain else box.ROUNDED
    table = Table(title=title, box=style, title_justify="left", show_lines=False)
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def show_memories(story: Story, title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        story.console.print(f"  {title}: [dim](none)[/]")
        return
    table = _table(story, title, "memory", "score", "categories", "metadata", "scope")
    for r in rows:
        score = f"{r['score']:.2f}" if r.get("score") is not None else ""
        scope = ", ".join(f"{k}={r[k]}" for k in ("user_id", "agent_id", "run_id") if r.get(k))
        table.add_row(r["memory"], score, ", ".join(r.get("categories") or []),
                      json.dumps(r["metadata"]) if r.get("metadata") else "", scope)  # fmt: skip
    story.console.print(table)


def show_events(story: Story, results: list[dict[str, Any]], skipped_why: str) -> None:
    if not results:
        story.console.print(f"  stored: nothing ({skipped_why})")
        return
    table = _table(story, "stored", "event", "memory", "why")
    for r in results:
        table.add_row(r["event"], r["memory"], _why(r))
    story.console.print(table)


def _why(result: dict[str, Any]) -> str:
    return {
        "ADD": "a new fact",
        "UPDATE": f"replaces {result.get('previous_memory')!r}",
        "DELETE": "contradicted by a newer fact (kept as superseded)",
        "NONE": "already known",
    }.get(result["event"], "")


def show_turn(story: Story, turn: Turn) -> None:
    story.console.print(f"[bold]Max:[/] {turn.user_input}")
    show_memories(story, "retrieved about Max", turn.memories)
    if turn.persona:
        show_memories(story, "retrieved persona", turn.persona)
    story.console.print(Panel(turn.messages[0]["content"], title="system prompt sent",
                              box=box.ASCII if story.plain else box.ROUNDED))  # fmt: skip
    story.console.print(f"[bold]Coach:[/] {turn.reply}")
    for warning in turn.warnings:
        story.console.print(f"  [yellow]warning:[/] {warning}")
    show_events(story, turn.stored, "no durable fact: greeting, filler or a question")


# ---------------------------------------------------------------------------- steps


def step_setup(story: Story) -> None:
    """Tell the memory layer what is worth remembering, and how to sort it."""
    story.memory.project.update(custom_instructions=CUSTOM_INSTRUCTIONS,
                                custom_categories=CUSTOM_CATEGORIES)  # fmt: skip
    settings = story.memory.project.get()
    table = _table(story, "custom categories", "category", "description")
    for item in settings["custom_categories"]:
        for name, description in item.items():
            table.add_row(name, description)
    story.console.print(Panel(CUSTOM_INSTRUCTIONS, title="custom instructions",
                              box=box.ASCII if story.plain else box.ROUNDED))  # fmt: skip
    story.console.print(table)
    story.check("project settings saved", settings["custom_instructions"] is not None)


def step_day_one(story: Story) -> None:
    """Day one: Max states a goal; the memory layer keeps the fact, not the transcript."""
    turn = story.chat("I want to run a marathon in under 4 hours")
    added = [r for r in turn.stored if r["event"] == "ADD"]
    if added:
        story.ids["goal"] = added[0]["id"]
    story.check("the goal was stored as a fact", bool(added))


def step_restart(story: Story) -> None:
    """The app restarts: the in-process buffer is gone, the database is not."""
    story.memory.close()
    story.buffer = ConversationBuffer()
    story.memory = story.open()
    story.console.print(f"  closed Memory, reopened {story.database} (short-term buffer empty)")
    story.check("long-term memory survived the restart",
                story.memory.get_all(user_id=USER)["count"] > 0)  # fmt: skip


def step_day_two(story: Story) -> None:
    """Day two: a fresh process still knows the goal."""
    turn = story.chat("What should I focus on today?")
    recalled = any(m["id"] == story.ids.get("goal") for m in turn.memories)
    story.check("day two retrieved the marathon goal", recalled)


def step_filler(story: Story) -> None:
    """Filler is skipped by the custom instructions; a preference is kept."""
    stored = [*story.chat("hey how's it going").stored, *story.chat("lol ok").stored]
    story.check("filler stored nothing", not stored)
    turn = story.chat("I prefer trail running over roads")
    story.check("the trail preference was stored", any(r["event"] == "ADD" for r in turn.stored))
    show_memories(story, "all of Max's memories", story.memory.get_all(user_id=USER)["results"])


def step_categories_metadata(story: Story) -> None:
    """Categories are assigned automatically; metadata is what the caller sets."""
    knee = story.memory.add([{"role": "user", "content": "My right knee flares up on downhills"}],
                            user_id=USER)["results"]  # fmt: skip
    show_events(story, knee, "nothing new")
    intervals = story.memory.add(
        [{"role": "user", "content": "10x400m intervals"}], user_id=USER,
        metadata={"workout_type": "speed", "intensity": "high"},
    )["results"]  # fmt: skip
    show_events(story, intervals, "nothing new")
    if intervals:
        story.ids["intervals"] = intervals[0]["id"]
    rows = [story.memory.get(r["id"]) for r in [*knee, *intervals] if r["event"] == "ADD"]
    show_memories(story, "categories (automatic) vs metadata (yours)", rows)
    story.check(
        "the knee was tagged 'constraints'",
        any("knee" in r["memory"] and "constraints" in r["categories"] for r in rows),
    )
    story.check(
        "the intervals carry their metadata",
        any((r.get("metadata") or {}).get("workout_type") == "speed" for r in rows),
    )


def step_constraints_search(story: Story) -> None:
    """Planning a session: only injuries, filtered by category."""
    story.console.print(f"  filters={json.dumps(CONSTRAINTS_FILTER)}, threshold=0.0")
    found = story.memory.search("injury concerns", filters=CONSTRAINTS_FILTER,
                                threshold=0.0)["results"]  # fmt: skip
    show_memories(story, "constraints only", found)
    story.check("the constraints search found the knee and nothing but constraints",
                any("knee" in r["memory"] for r in found)
                and all("constraints" in r["categories"] for r in found))  # fmt: skip


def step_persona(story: Story) -> None:
    """Ray's own memory (agent_id) shapes how he talks; Max's memory shapes what he says."""
    persona = "Max wants direct, data-driven feedback. Skip motivational language."
    added = story.memory.add([{"role": "system", "content": persona}],
                             agent_id="ray_coach")["results"]  # fmt: skip
    show_events(story, added, "nothing new")
    turn = story.chat("How'd my run look today?", agent_id="ray_coach")
    story.check("Ray's persona is in the system prompt", bool(turn.persona))


def step_expiry(story: Story) -> None:
    """A rolled ankle expires after 14 days; open the store 15 days later and it is gone."""
    expiration = (utcnow() + timedelta(days=14)).strftime("%Y-%m-%d")
    added = story.memory.add([{"role": "user", "content": "Rolled my left ankle, needs rest"}],
                             user_id=USER, expiration_date=expiration)["results"]  # fmt: skip
    show_events(story, added, "nothing new")
    story.console.print(f"  expiration_date={expiration}")
    now = story.memory.search("ankle injury", user_id=USER, limit=3)["results"]
    show_memories(story, "today: 'ankle injury'", now)
    later = story.open(clock=lambda: utcnow() + timedelta(days=15))
    try:
        future = later.search("ankle injury", user_id=USER, limit=3)["results"]
        show_memories(story, "15 days later: 'ankle injury'", future)
    finally:
        later.close()
    story.check("the ankle is remembered today", any("ankle" in r["memory"] for r in now))
    story.check("the ankle is gone 15 days later", not any("ankle" in r["memory"] for r in future))


def step_goal_change(story: Story) -> None:
    """sub-4 becomes sub-3:45: reconciliation updates the old fact instead of adding a rival."""
    results = story.memory.add("Actually I want to run a sub-3:45 marathon now",
                               user_id=USER)["results"]  # fmt: skip
    show_events(story, results, "nothing new")
    goal = story.ids.get("goal", "")
    changed = [r for r in results if r["event"] in ("UPDATE", "DELETE") and r["id"] == goal]
    if not changed and goal:  # the extractor kept both: correct by hand, as the tutorial does
        story.memory.update(goal, "Max wants to run a sub-3:45 marathon")
        story.console.print("  no reconciliation: updated the goal by id with update()")
    table = _table(story, "history of the goal", "event", "old", "new", "actor")
    for h in story.memory.history(goal) if goal else []:
        table.add_row(h["event"], h["old_memory"] or "", h["new_memory"] or "", h["actor"] or "")
    story.console.print(table)
    story.check("the goal changed by UPDATE, with its history",
                any(r["event"] == "UPDATE" for r in results))  # fmt: skip


def step_two_agents(story: Story) -> None:
    """Ray coaches running, Jordan strength: separate personas, the same facts about Max."""
    story.memory.add([{"role": "system", "content": "Short cues; always list sets and reps."}],
                     agent_id="jordan_coach")  # fmt: skip
    ray = story.chat("easy run today", agent_id="ray_coach")
    jordan = story.chat("leg day workout", agent_id="jordan_coach",
                        persona="You're Jordan, a strength coach.")  # fmt: skip
    shared = {m["id"] for m in ray.memories} & {m["id"] for m in jordan.memories}
    story.check("both coaches retrieved Max's facts", bool(shared))
    story.check("each coach saw only its own persona",
                {m["agent_id"] for m in ray.persona} <= {"ray_coach"}
                and {m["agent_id"] for m in jordan.persona} <= {"jordan_coach"})  # fmt: skip


def step_runs(story: Story) -> None:
    """run_id keeps training cycles apart: Boston memories never leak into NYC."""
    for run, text in (
        ("boston-2025", "Boston has the Newton hills, so I'm doing hill repeats"),
        ("nyc-2025", "NYC has five bridges, so I'm practising pacing on inclines"),
    ):
        show_events(story, story.memory.add(text, user_id=USER, run_id=run)["results"], "none")
    boston = story.memory.search("training plan", user_id=USER, run_id="boston-2025")["results"]
    show_memories(story, "search run_id=boston-2025", boston)
    story.check(
        "only Boston memories came back",
        bool(boston) and all(r["run_id"] == "boston-2025" for r in boston),
    )


def step_cleanup(story: Story) -> None:
    """Delete one memory by id, then a whole training cycle."""
    if "intervals" in story.ids:
        story.memory.delete(story.ids["intervals"])
        story.console.print(f"  delete({story.ids['intervals']}) -> removed the intervals")
    done = story.memory.delete_all(user_id=USER, run_id="nyc-2025")
    story.console.print(f"  delete_all(user_id='max', run_id='nyc-2025') -> {done['deleted']}")
    left = story.memory.get_all(user_id=USER)["results"]
    show_memories(story, "what Max's coaches remember now", left)
    story.check("the NYC cycle is gone", not any(r["run_id"] == "nyc-2025" for r in left))


STEPS: list[tuple[str, Callable[[Story], None]]] = [
    ("1. Custom instructions and categories", step_setup),
    ("2. Day one", step_day_one),
    ("3. The app restarts", step_restart),
    ("4. Day two", step_day_two),
    ("5. Noise filtering", step_filler),
    ("6. Categories vs metadata", step_categories_metadata),
    ("7. Search by category", step_constraints_search),
    ("8. Agent persona memory", step_persona),
    ("9. Memories that expire", step_expiry),
    ("10. A goal that changes", step_goal_change),
    ("11. Two agents, one user", step_two_agents),
    ("12. run_id isolation", step_runs),
    ("13. Clean-up", step_cleanup),
]


def run_demo(home: Path | None = None, *, plain: bool = False,
             console: Console | None = None) -> list[tuple[str, bool]]:  # fmt: skip
    """Run every step; returns the checks and whether each held."""
    console = console or make_console(plain)
    with tempfile.TemporaryDirectory(prefix="engram-demo-") as tmp:
        database = Path(home or tmp) / "engram.db"
        story = Story(console, database, plain, llm=llm_from_env())
        replies = "the configured LLM" if story.llm else "the offline responder (no LLM set)"
        console.print(f"Engram demo: Ray remembers Max. Store: {database}; replies: {replies}")
        story.memory = story.open()
        try:
            for title, step in STEPS:
                console.rule(title)
                console.print(f"[dim]{step.__doc__}[/]")
                step(story)
        finally:
            story.memory.close()
    met = sum(ok for _, ok in story.checks)
    console.rule("Summary")
    console.print(f"{met}/{len(story.checks)} expectations met")
    return story.checks


def make_console(plain: bool) -> Console:
    if plain:  # CI logs: no colour, no cursor tricks, wide enough not to fold every line
        return Console(no_color=True, highlight=False, emoji=False, width=120,
                       force_terminal=False, soft_wrap=False)  # fmt: skip
    return Console(highlight=False)
