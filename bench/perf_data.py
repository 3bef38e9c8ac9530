"""Synthetic, deterministic memories for bench/perf.py and bench/serve.py: sentences a user
of a coaching or assistant app would say, each with its topic (stored as the category), a
metadata source, and distinct queries. Pure Python, so the mem0ai side (its own venv)
imports it too and both sides see the same data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

SOURCES = ("chat", "import", "app")  # metadata.source, a third of the memories each
CATEGORY_FILTER = "sports"  # the category the filtered search asks for
SOURCE_FILTER = "chat"

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_PARTS = ("morning", "afternoon", "evening", "lunch break", "night")
_PLACES = ("the river trail", "the park loop", "the track", "the hills behind the house",
           "the canal path", "the beach", "the forest road", "the city centre", "the gym",
           "the lake", "the old railway line", "the stadium")  # fmt: skip
_SPORTS = ("ran", "cycled", "swam", "hiked", "rowed", "walked", "jogged", "skied")
_BODY = ("left knee", "right knee", "lower back", "right ankle", "left hip", "shoulder",
         "left calf", "right hamstring", "neck", "left foot", "right wrist",
         "achilles")  # fmt: skip
_FEEL = ("sore", "stiff", "tight", "swollen", "painful", "fine again", "much better", "weak")
_FOODS = ("oat milk", "dark chocolate", "sushi", "lentil soup", "green tea", "espresso",
          "banana bread", "porridge", "spicy ramen", "greek yoghurt", "falafel", "tofu curry",
          "mango", "sourdough toast", "black beans", "peanut butter")  # fmt: skip
_PEOPLE = ("my sister", "my brother", "my wife", "my husband", "my daughter", "my son",
           "my mother", "my father", "my partner", "my best friend", "my coach", "my neighbour")
_NAMES = ("Anna", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
          "Kira", "Luca", "Maya", "Noah", "Olga", "Pablo", "Rosa", "Sam", "Tara", "Victor")
_JOBS = ("nurse", "software engineer", "teacher", "accountant", "chef", "architect",
         "physiotherapist", "lawyer", "designer", "electrician", "pharmacist", "journalist")
_CITIES = ("Lisbon", "Berlin", "Kyoto", "Toronto", "Melbourne", "Oslo", "Seville", "Prague",
           "Denver", "Cape Town", "Edinburgh", "Vancouver", "Porto", "Munich", "Boston")
_HOBBIES = ("painting watercolours", "playing the guitar", "baking bread", "reading crime novels",
            "birdwatching", "chess", "pottery", "gardening", "photography", "knitting",
            "learning Spanish", "board games", "climbing", "woodworking")  # fmt: skip
_GOALS = ("a marathon under {h} hours", "a half marathon under {m} minutes",
          "a 10k under {s} minutes", "an ultra of {k} km", "a triathlon in {city}",
          "{k} km a week by summer")  # fmt: skip
_DEVICES = ("Garmin watch", "Apple Watch", "Strava", "a treadmill", "a heart-rate strap",
            "Zwift", "a foam roller", "new trail shoes", "a Kindle", "noise-cancelling headphones")

# (category, template): slots are filled from the lists above
_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("sports", "I {sport} {k} km along {place} on {day} {part}"),
    ("sports", "On {day} I {sport} for {minutes} minutes at {place}"),
    ("sports", "My long run this week was {k} km at {place}"),
    ("sports", "I did {n} hill repeats on {day} and felt {feel} afterwards"),
    ("sports", "I train {n} times a week, usually in the {part}"),
    ("health", "My {body} has been {feel} since {day}"),
    ("health", "The physio said my {body} needs {n} weeks of rest"),
    ("health", "I am allergic to {food} and avoid it at restaurants"),
    ("health", "I slept {n} hours last night and my {body} felt {feel}"),
    ("food", "I usually have {food} for breakfast before a {k} km run"),
    ("food", "My favourite dinner after training is {food} with {food2}"),
    ("food", "I stopped drinking {food} after {day} {part}"),
    ("family", "{person} is called {name} and lives in {city}"),
    ("family", "{person} {name} is joining me for a run at {place} on {day}"),
    ("family", "{person} turns {age} in {month}"),
    ("professional_details", "I work as a {job} in {city}"),
    ("professional_details", "My shifts as a {job} end at {n} pm on {day}"),
    ("goals", "I want to run {goal}"),
    ("goals", "My target for {month} is {goal}"),
    ("travel", "I am travelling to {city} in {month} and want to run at {place}"),
    ("travel", "Last {month} I visited {city} with {person}"),
    ("hobbies", "On {day} {part}s I enjoy {hobby}"),
    ("hobbies", "I have been {hobby} for {n} years"),
    ("technology", "I track every run with {device}"),
    ("technology", "I bought {device} in {month} and use it {n} times a week"),
    ("preferences", "I prefer running at {place} over {place2}"),
    ("preferences", "I like training in the {part} because it is quieter"),
    ("milestones", "I finished my first {k} km race in {city} in {month}"),
    ("personal_details", "My name is {name} and I am {age} years old"),
    ("personal_details", "I moved to {city} in {month} {year}"),
)
_ASIDES = ("in {month} {year}", "with {person}", "this {day}", "after work on {day}",
           "before my {job} shift", "while visiting {city}", "when I was {age}")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip

_QUESTIONS = (
    "How far did I run at {place}?", "What happened to my {body}?",
    "What do I eat before a run?", "Where does {person} live?", "What is my running goal?",
    "Which watch or app do I use?", "When am I travelling to {city}?", "What are my hobbies?",
    "What is my job?", "Which races have I finished?", "How often do I train each week?",
    "Do I have any allergies?", "Who is joining me on {day}?", "What did I do on {day} {part}?",
    "How did my {body} feel after the hill repeats?", "What do I like about {place}?",
)  # fmt: skip


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        sport=rng.choice(_SPORTS), k=rng.randint(3, 42), place=rng.choice(_PLACES),
        place2=rng.choice(_PLACES), day=rng.choice(_DAYS), part=rng.choice(_PARTS),
        minutes=rng.randint(20, 180), n=rng.randint(2, 12), feel=rng.choice(_FEEL),
        body=rng.choice(_BODY), food=rng.choice(_FOODS), food2=rng.choice(_FOODS),
        person=rng.choice(_PEOPLE), name=rng.choice(_NAMES), city=rng.choice(_CITIES),
        age=rng.randint(5, 80), month=rng.choice(_MONTHS), job=rng.choice(_JOBS),
        hobby=rng.choice(_HOBBIES), device=rng.choice(_DEVICES), year=rng.randint(2005, 2025),
        goal=rng.choice(_GOALS).format(h=rng.randint(3, 5), m=rng.randint(85, 130),
                                       s=rng.randint(38, 65), k=rng.randint(50, 160),
                                       city=rng.choice(_CITIES)),
    )  # fmt: skip


def memories(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """`n` distinct (sentence, category) pairs; the first k of any n are the same."""
    rng, seen, out = random.Random(seed), set(), []
    while len(out) < n:
        category, template = rng.choice(_TEMPLATES)
        text = _fill(template, rng)
        for _ in range(5):  # a template's few combinations ran out: say when or with whom
            if text not in seen:
                break
            text = f"{_fill(template, rng)} {_fill(rng.choice(_ASIDES), rng)}"
        if text not in seen:
            seen.add(text)
            out.append((text, category))
    return out


def user_of(i: int, users: int) -> str:
    return f"user{i % users}"


def metadata_of(i: int) -> dict[str, str | int]:
    return {"source": SOURCES[i % len(SOURCES)], "week": i % 52}


def queries(n: int, seed: int = 11) -> list[str]:
    """`n` distinct questions (distinct, so no embedding cache serves a repeat)."""
    rng, seen, out = random.Random(seed), set(), []
    while len(out) < n:
        text = _fill(rng.choice(_QUESTIONS), rng)
        if text in seen:  # few combinations: ask about a time too
            text = f"{text[:-1]} {_fill(rng.choice(_ASIDES), rng)}?"
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def fresh_sentences(n: int, seed: int = 99) -> Iterator[str]:
    """Sentences for the add-throughput part (not in the loaded store)."""
    for text, _ in memories(n, seed):
        yield text


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of non-empty `samples`."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def timings(samples: list[float]) -> dict[str, float]:
    """p50, p95 and p99 of `samples`."""
    return {f"p{q}": round(percentile(samples, q), 3) for q in (50, 95, 99)}


def peak_rss_mb() -> float:
    """This process's peak resident set, MB. Linux's VmHWM, which starts again at exec:
    `ru_maxrss` keeps the forking parent's resident set across it, so a worker started by a
    parent that had embedded 100,000 sentences reported the parent's 292 MB as its own."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
