"""Which language a message is in, offline and in microseconds, from its scripts alone.

The extractors only need to know which rule set applies, so counting scripts is enough:
Han characters against Latin words decides Chinese vs English (a Chinese message often
carries a brand or a unit: "我用Garmin记录10km"), kana marks Japanese, Hangul Korean.
Latin text that is not English (accents and no English function word) is told apart too,
so it is stored as said instead of being bent by the English rules.

A new language is one entry in `_SCRIPTS` (or `_LATIN_LANGUAGES`) plus an extractor
registered for its code in `engram.extraction.local`.
"""

from __future__ import annotations

import re

ENGLISH = "en"
CHINESE = "zh"
UNKNOWN = "und"  # no letters, or a script no rule set covers

# (code, character class) checked in order; the first script with letters present wins over
# Han, because Japanese and Korean text also contains Han characters.
_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ja", re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")),  # hiragana, katakana
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")),  # Hangul
    ("ru", re.compile(r"[\u0400-\u04ff]")),  # Cyrillic (the commonest Cyrillic language)
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),  # Devanagari
    ("el", re.compile(r"[\u0370-\u03ff]")),
)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")
# Frequent short English words: a Latin message with none of them is probably not English.
_ENGLISH_WORDS = frozenset(
    "i me my we you he she it they is am are was were be been have has had do did does "
    "the a an and or but to of in on at for with from that this not no so my our your "
    "will would can could just like im i'm its it's".split()
)
_ACCENTED = re.compile(r"[\u00c0-\u024f]")


def detect(text: str) -> str:
    """An ISO 639-1 code ("zh", "en", "ja", ...), "und" when nothing can be told."""
    han = len(_HAN.findall(text))
    latin_words = _LATIN_WORD.findall(text)
    for code, pattern in _SCRIPTS:
        found = len(pattern.findall(text))
        if found and found >= max(1, len(latin_words)) // 2:
            return code
    if han and han >= len(latin_words):
        return CHINESE
    if latin_words:
        return ENGLISH if _english(latin_words) else UNKNOWN
    return CHINESE if han else UNKNOWN


def _english(words: list[str]) -> bool:
    lowered = [w.lower() for w in words]
    if any(w in _ENGLISH_WORDS for w in lowered):
        return True
    # A short note without function words ("10x400m intervals", "Strava") is still English
    # unless it is written with letters English does not use.
    return not any(_ACCENTED.search(w) for w in words)
