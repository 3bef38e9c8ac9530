"""Messages with no durable content store nothing; messages with a fact lose nothing.

    junk     nothing may be stored (greetings, reactions, apologies, tests, teasers)
    fact     something is stored, and it contains each expected piece
    persona  a system message about the agent is stored whole, not cut into fragments

Written for issue 8 before tuning.
"""

from __future__ import annotations

from tests.quality_cases.support import MakeMemory, Result

SET_NAME = "junk"

JUNK = [
    "Big news!",
    "lol sorry for the late reply",
    "This is a test",
    "test123",
    "testing, testing 1 2 3",
    "Guess what?",
    "Quick question",
    "brb",
    "one sec, let me check",
    "Sorry, I was busy",
    "Hey Ray!",
    "Good morning coach",
    "haha yeah that's what I thought",
    "That was fun",
    "ok got it, will do",
    "Thanks, that's really helpful!",
    "Sounds like a plan",
    "Never mind",
    "Forget what I just said",
    "I'm back",
    "Just checking in",
    "You're the best coach ever",
    "Hmm let me think about it",
    "Same as last time",
    "asdfgh",
    "Oops, wrong chat",
]

# (message, pieces the stored facts must contain)
FACTS = [
    ("10x400m intervals", ["10x400m intervals"]),
    ("Big news: I got into the Boston Marathon!", ["Boston Marathon"]),
    ("lol sorry for the late reply, I was at my daughter's recital", ["daughter"]),
    ("Ran 10k this morning in 52 minutes", ["10k", "52 minutes"]),
    ("Vegan since January", ["Vegan"]),
    ("Knee's much better now", ["better"]),
    ("New PB: 21:30 for 5k", ["21:30"]),
    ("Guess what, I signed up for an ultra", ["ultra"]),
    ("I'm back from Kenya, altitude camp was brutal", ["Kenya"]),
    ("Sorry, I was busy moving to Madrid", ["Madrid"]),
    ("My test results came back: low iron", ["iron"]),
    ("Quick question: I'm diabetic, should I carry gels?", ["diabetic"]),
    ("Just bought a foam roller", ["foam roller"]),
    ("Night shifts all week", ["Night shifts"]),
    ("I hate hills lol", ["hills"]),
]

# Written after the first tuning round, before running them, to check the rules generalise.
JUNK += [
    "hello?", "Are you there?", "Ugh, Mondays", "lmao", "ok cool, talk tomorrow", "My bad",
    "Never mind, figured it out", "Whoops, typo", "Haha you're funny", "That makes sense",
    "Hi again", "Nothing much", "Not sure yet", "Let me get back to you on that", "Interesting",
]  # fmt: skip
FACTS += [
    ("Ugh, my calves are so tight after yesterday's hills", ["calves"]),
    ("Haha I finally bought a heart rate strap", ["heart rate strap"]),
    ("Not sure yet but I think I'll race Chicago in October", ["Chicago"]),
    ("My bad, I meant 12 miles, not 10", ["12 miles"]),
    ("Nothing planned this weekend except a long run", ["long run"]),
    ("Back from the physio: it's plantar fasciitis", ["plantar fasciitis"]),
    ("Test race went well, 5k in 22:10", ["22:10"]),
]

# Written for issue 13 (one memory per turn), before running them: remarks to the listener,
# reactions and closings keep nothing; a fact said among them is kept.
JUNK += [
    "You'd make a great teacher!", "Your plan sounds really solid", "I'm so proud of you!",
    "What a beautiful view!", "Glad it all worked out", "Thanks, Anna!", "Totally agree, Sam.",
    "That's a gorgeous photo, Tom!", "I missed you!", "Talk to you soon!",
    "Great that you're taking time off", "Your kids are lucky to have you",
]  # fmt: skip
FACTS += [
    ("Since we last talked, I started a new job at a bakery", ["bakery"]),
    ("Thanks, Anna! I finally finished my first half marathon", ["half marathon"]),
    ("What a week! My sister had her baby on Tuesday", ["sister", "baby"]),
    ("You'd love it here, I moved to Lisbon last month", ["Lisbon"]),
    ("I'm so happy for you! I also got a puppy, his name is Rex", ["puppy", "Rex"]),
]

# (system message, the memories it must become)
PERSONA = [
    ("Direct, data-driven feedback. No fluff.", ["Direct, data-driven feedback. No fluff"]),
    ("Max wants direct, data-driven feedback. Skip motivational language.",
     ["Max wants direct, data-driven feedback", "Skip motivational language"]),
    ("Short answers. Metric units only.", ["Short answers. Metric units only"]),
    ("Always give paces in min/km.", ["Always give paces in min/km"]),
]  # fmt: skip


def run(make_memory: MakeMemory) -> list[Result]:
    results: list[Result] = []
    for message in JUNK:
        stored = _stored(make_memory(), "user", message)
        results.append(("junk", not stored, f"{message!r} stored {stored}"))
    for message, pieces in FACTS:
        stored = _stored(make_memory(), "user", message)
        ok = bool(stored) and all(any(p in s for s in stored) for p in pieces)
        results.append(("fact", ok, f"{message!r} stored {stored}, want {pieces}"))
    for message, expected in PERSONA:
        stored = _stored(make_memory(), "system", message, agent_id="ray")
        ok = sorted(stored) == sorted(expected)
        results.append(("persona", ok, f"{message!r} stored {stored}, want {expected}"))
    return results


def _stored(m, role: str, message: str, **scope: str) -> list[str]:
    scope = scope or {"user_id": "max"}
    return [r["memory"] for r in m.add([{"role": role, "content": message}], **scope)["results"]]
