"""Custom instructions: what a project's include/exclude lists keep and drop, offline.

    keep   a fact within the app's domain: something must be stored (erring towards keeping)
    drop   what the instructions exclude (filler, chatter, idle hypotheticals): nothing stored

The instructions are the seed tutorial's two versions and a meal-planner's; written for
issue 8 before tuning.
"""

from __future__ import annotations

from engram.demo import CUSTOM_INSTRUCTIONS
from tests.quality_cases.support import MakeMemory, Result, user_turn

SET_NAME = "instructions"

# The seed tutorial's instructions, as the demo uses them.
TUTORIAL_LONG = CUSTOM_INSTRUCTIONS
TUTORIAL_SHORT = """
Extract: goals, constraints, preferences, progress
Exclude: greetings, filler, casual chat
"""
MEALS = """
Remember: diet, allergies, favourite dishes, cooking skills, household size
Ignore: small talk, weather, sports results
"""

RUNNING_KEEP = [
    "I want to run a marathon in under 4 hours",
    "My right knee flares up on downhills",
    "I prefer trail running over roads",
    "I ran my first half marathon last Sunday",
    "I stopped eating meat last month",
    "I switched from Nike to Hoka shoes",
    "I work night shifts so I train in the afternoon",
    "I'm sleeping badly this week",
    "I weigh 72 kg now",
    "I'm signing up for the Berlin marathon in September",
    "If my knee holds up I'll race the 10k in June",
    "I use a Garmin to track my heart rate",
    "I live at 2000 m altitude",
    "I'm pregnant, due in March",
    "I have a dog who runs with me",
]
RUNNING_DROP = [
    "hey how's it going",
    "lol ok",
    "The weather is nice today",
    "I watched a great movie last night",
    "What if I won the lottery and quit my job?",
    "My neighbour's car is red",
    "I had a funny dream about penguins",
    "Did you see the football game yesterday?",
]
MEALS_KEEP = [
    "I'm allergic to shellfish",
    "I'm vegetarian",
    "I cook for four people",
    "My favourite dish is lasagne",
    "I'm a beginner cook",
    "I started eating fish again",
]
MEALS_DROP = [
    "It's raining again",
    "My team won the match yesterday",
    "haha good one",
]

# Written after the first tuning round, before running them, to check the judgement generalises.
RUNNING_KEEP += [
    "I'm a nurse and work 12-hour shifts",
    "My sister is running Boston with me",
    "I've been feeling really fatigued lately",
    "I can't run on Thursdays",
    "I bought new trail shoes",
    "I did 8x800m at 3:40 pace today",
    "I'm cutting sugar to lose weight",
]
RUNNING_DROP += [
    "My favourite TV show is back next week",
    "I'm so bored at work today lol",
    "My cat knocked over a plant",
    "Traffic was terrible this morning",
    "Did you hear about the election?",
]
MEALS_KEEP += ["My husband doesn't eat pork", "I have an Instant Pot", "I love Indian food"]
MEALS_DROP += ["The game last night was crazy", "Traffic was awful today"]

SETS = [
    ("tutorial_long", TUTORIAL_LONG, RUNNING_KEEP, RUNNING_DROP),
    ("tutorial_short", TUTORIAL_SHORT, RUNNING_KEEP, RUNNING_DROP),
    ("meals", MEALS, MEALS_KEEP, MEALS_DROP),
]


def run(make_memory: MakeMemory) -> list[Result]:
    results: list[Result] = []
    for name, instructions, keep, drop in SETS:
        for expected, messages in (("keep", keep), ("drop", drop)):
            for message in messages:
                m = make_memory()
                m.project.update(custom_instructions=instructions)
                stored = [r["memory"] for r in user_turn(m, message)]
                ok = bool(stored) == (expected == "keep")
                results.append((expected, ok, f"{name}: {message!r} stored {stored}"))
    return results
