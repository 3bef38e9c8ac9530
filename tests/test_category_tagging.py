"""The offline tagger puts facts in the project's categories by meaning and intent."""

from __future__ import annotations

import pytest

from engram.extraction.categories import (
    DEFAULT_CATEGORIES,
    CategoryTagger,
    normalize_categories,
    with_intent_hint,
)

SEED = normalize_categories([
    {"goals": "Race targets and training objectives"},
    {"constraints": "Injuries, limitations, recovery needs"},
    {"preferences": "Training style, surfaces, schedules"},
])  # fmt: skip

SEED_CASES = [
    ("Max wants to run a marathon in under 4 hours", "goals"),
    ("Max now wants to run a marathon in under 3:45", "goals"),
    ("Max plans to qualify for Boston", "goals"),
    ("Max's right knee flares up on downhills", "constraints"),
    ("Max rolled their left ankle, needs rest", "constraints"),
    ("Max is allergic to ibuprofen", "constraints"),
    ("Max prefers trail running over roads", "preferences"),
    ("Max likes to run in the early morning", "preferences"),
    ("Max: 10x400m intervals", "preferences"),
]

DEFAULT_CASES = [
    ("Max lives in Lyon", "personal_details"),
    ("Max works as a nurse", "professional_details"),
    ("Max is allergic to peanuts", "health"),
    ("Max is going to Japan in May", "travel"),
    ("Max is vegetarian", "food"),
    ("Max uses a Garmin watch", "technology"),
    ("Max has a dog named Rex", "family"),
]


@pytest.fixture(scope="module")
def tagger(embedder) -> CategoryTagger:
    return CategoryTagger(embedder)


@pytest.mark.parametrize(("fact", "category"), SEED_CASES)
def test_seed_categories(tagger: CategoryTagger, fact: str, category: str) -> None:
    assert tagger.tag([fact], SEED)[0][0] == category


@pytest.mark.parametrize(("fact", "category"), DEFAULT_CASES)
def test_default_categories(tagger: CategoryTagger, fact: str, category: str) -> None:
    assert category in tagger.tag([fact], DEFAULT_CATEGORIES)[0]


def test_no_categories_means_no_tags(tagger: CategoryTagger) -> None:
    assert tagger.tag(["Max likes tea"], {}) == [[]]


def test_intent_hint_is_added_only_for_known_intents_and_attributes() -> None:
    assert with_intent_hint("Max wants a sub-4 marathon").endswith("(goal, target, objective)")
    assert with_intent_hint("Max saw a rainbow") == "Max saw a rainbow"
    assert with_intent_hint("Max lives in Lyon").endswith("(where they live, home, location)")
