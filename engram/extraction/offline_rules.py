"""Closed word lists and the English verb inflection used by the offline extractor.

These are small closed classes (interjections, request verbs, auxiliaries) that a POS
tagger labels inconsistently in chat text ("lol" -> XX, "thanks" -> NNS), so a list is
the more reliable signal for them. Open-class decisions are left to the parser.
"""

from __future__ import annotations

import re

# Words that carry no fact on their own: greetings, thanks, acknowledgements, chat noise.
FILLER_WORDS = frozenset(
    [
        "hey",
        "hi",
        "hello",
        "hiya",
        "yo",
        "sup",
        "howdy",
        "morning",
        "evening",
        "night",
        "afternoon",
        "good",
        "gm",
        "gn",
        "lol",
        "lmao",
        "rofl",
        "haha",
        "hahaha",
        "hehe",
        "heh",
        "hmm",
        "hm",
        "ugh",
        "meh",
        "argh",
        "phew",
        "yay",
        "woohoo",
        "um",
        "umm",
        "uh",
        "ah",
        "oh",
        "ooh",
        "wow",
        "whoa",
        "omg",
        "ok",
        "okay",
        "k",
        "kk",
        "okey",
        "alright",
        "aight",
        "sure",
        "yes",
        "yeah",
        "yep",
        "yup",
        "ya",
        "no",
        "nope",
        "nah",
        "fine",
        "cool",
        "nice",
        "great",
        "awesome",
        "perfect",
        "sweet",
        "neat",
        "fantastic",
        "excellent",
        "amazing",
        "thanks",
        "thank",
        "thx",
        "ty",
        "tysm",
        "cheers",
        "appreciate",
        "appreciated",
        "you",
        "much",
        "so",
        "very",
        "lot",
        "a",
        "bye",
        "goodbye",
        "cya",
        "gtg",
        "g2g",
        "ttyl",
        "later",
        "see",
        "ya",
        "soon",
        "take",
        "care",
        "night",
        "please",
        "pls",
        "plz",
        "np",
        "welcome",
        "sorry",
        "oops",
        "anyway",
        "anyways",
        "well",
        "right",
        "got",
        "it",
        "sounds",
        "makes",
        "sense",
        "agreed",
        "indeed",
        "totally",
        "exactly",
        "true",
        "talk",
        "speak",
        "that",
        "this",
        "it",
        "'s",
        "is",
        "was",
        "helps",
        "helped",
        "helpful",
        "works",
        "worked",
        "useful",
    ]
)

# Words that may open a user message before the content ("ok so I'm vegan").
LEADING_FILLER = frozenset(
    [
        "hey",
        "hi",
        "hello",
        "yo",
        "ok",
        "okay",
        "so",
        "well",
        "oh",
        "ah",
        "um",
        "uh",
        "hmm",
        "lol",
        "haha",
        "yeah",
        "yes",
        "no",
        "also",
        "btw",
        "anyway",
        "anyways",
        "actually",
        "alright",
        "right",
        "basically",
        "honestly",
        "ugh",
        "meh",
        "phew",
        "yay",
        "woohoo",
    ]
)

# Chinese/Japanese chat filler; a line made only of these (and punctuation) is dropped.
CJK_FILLER = (
    "哈哈",
    "呵呵",
    "嘿嘿",
    "嘻嘻",
    "好的",
    "好吧",
    "谢谢",
    "多谢",
    "感谢",
    "你好",
    "您好",
    "再见",
    "拜拜",
    "没问题",
    "是的",
    "对的",
    "晚安",
    "早安",
    "早上好",
    "ありがとう",
    "了",
    "吧",
    "呢",
    "啊",
    "哦",
    "嗯",
    "噢",
    "呀",
    "嘛",
    "哈",
    "好",
    "对",
    "谢",
    "行",
)

# Base-form verbs that open a request to the assistant, not a fact about the user.
REQUEST_VERBS = frozenset(
    [
        "give",
        "tell",
        "remind",
        "show",
        "help",
        "make",
        "create",
        "plan",
        "suggest",
        "recommend",
        "explain",
        "write",
        "list",
        "send",
        "build",
        "draft",
        "find",
        "check",
        "summarize",
        "summarise",
        "describe",
        "generate",
        "let",
        "please",
        "schedule",
        "book",
        "calculate",
        "compare",
        "update",
        "delete",
        "remove",
        "forget",
        "add",
        "save",
        "note",
    ]
)

# Auxiliaries/modals that open a yes/no question when followed by a subject.
QUESTION_AUX = frozenset(
    [
        "do",
        "does",
        "did",
        "is",
        "are",
        "am",
        "was",
        "were",
        "can",
        "could",
        "will",
        "would",
        "should",
        "shall",
        "may",
        "might",
        "must",
        "have",
        "has",
        "had",
    ]
)
WH_WORDS = frozenset(["what", "when", "where", "which", "who", "whom", "whose", "why", "how"])
SUBJECT_PRONOUNS = frozenset(["i", "you", "he", "she", "it", "we", "they"])

_IRREGULAR_3SG = {"be": "is", "am": "is", "have": "has", "do": "does", "go": "goes"}
# Clitics spaCy splits off "I'm", "I've", ...: (after a name, after "they").
CLITICS = {
    "'m": ("is", "are"),
    "m": ("is", "are"),
    "'ve": ("has", "have"),
    "'ll": ("will", "will"),
    "'d": ("would", "would"),
}
_SIBILANT_END = re.compile(r"(s|sh|ch|x|z|o)$")
_CONSONANT_Y = re.compile(r"[^aeiou]y$")


def third_person(verb: str) -> str:
    """Present-tense third person singular of a base-form English verb ("try" -> "tries")."""
    low = verb.lower()
    if low in _IRREGULAR_3SG:
        return _IRREGULAR_3SG[low]
    if _CONSONANT_Y.search(low):
        return verb[:-1] + "ies"
    if _SIBILANT_END.search(low):
        return verb + "es"
    return verb + "s"


def plural_agreement(verb: str) -> str:
    """Agreement with singular "they": only am/was change ("I was" -> "they were")."""
    return {"am": "are", "was": "were"}.get(verb.lower(), verb)


def is_cjk_filler(text: str) -> bool:
    """True when a non-Latin line holds nothing but chat filler and punctuation."""
    rest = text
    for word in sorted(CJK_FILLER, key=len, reverse=True):
        rest = rest.replace(word, "")
    return not any(ch.isalnum() for ch in rest)

# Social reactions that carry no fact about the speaker ("Sorry to hear that", "Great idea!").
# Matched against a whole clause, lower-cased, punctuation and names removed.
SOCIAL_PHRASES = frozenset(
    [
        "sorry", "sorry to hear that", "so sorry", "great idea", "good idea", "sounds great",
        "sounds good", "sounds fun", "sounds amazing", "can't wait", "cannot wait",
        "good to see you", "good to see you too", "nice to meet you", "great to hear",
        "glad to hear that", "same here", "me too", "for sure", "of course", "good luck",
        "congrats", "congratulations", "well done", "take care", "no problem", "no worries",
        "you too", "definitely", "totally", "exactly", "agreed", "true", "wow", "awesome",
        "cool", "nice", "great", "amazing", "that's cool", "that's great", "that's awesome",
        "that's amazing", "that's so cool", "that's nice", "love it", "i love that",
        "talk to you soon", "talk soon", "see you soon", "see you", "i agree", "i totally agree",
        "totally agree", "i completely agree", "no doubt", "no doubts",
    ]
)  # fmt: skip

# Subjects whose clause says nothing about the speaker unless it names something:
# "That's cool", "It'll be so much fun", "You should try it".
VAGUE_SUBJECTS = frozenset(["it", "that", "this", "these", "those", "you"])

# Nouns that name no thing in evaluative small talk ("It'll be so much fun", "Good idea").
EVALUATIVE_NOUNS = frozenset(
    ["fun", "time", "idea", "thing", "things", "stuff", "feeling", "blast", "way", "lot",
     "deal", "bit", "one", "sense"]
)  # fmt: skip

# Chat contractions the tagger misreads ("I wanna start" -> "wannas"); expanded before parsing.
CONTRACTIONS = {"wanna": "want to", "gonna": "going to", "gotta": "have to"}

# Verbs chat often starts a sentence with, dropping "I" ("Love trail running").
SUBJECTLESS_VERBS = frozenset(
    ["love", "like", "hate", "need", "want", "think", "feel", "hope", "guess", "prefer",
     "enjoy", "miss", "know", "got", "had", "went", "ran", "did", "made", "bought", "took",
     "saw", "met", "have", "am", "was", "can't", "cant", "don't", "dont", "just"]
)  # fmt: skip

# Adjectives that open a verbless reaction ("Cool setup!", "Nice pic").
REACTION_ADJECTIVES = frozenset(
    ["cool", "nice", "great", "awesome", "amazing", "lovely", "beautiful", "sweet",
     "fantastic", "wonderful", "perfect", "gorgeous", "stunning", "incredible"]
)  # fmt: skip

# Nouns about the conversation itself, not the speaker: a fragment or an it/this clause made
# only of these says nothing durable ("Big news!", "Quick question", "This is a test").
CONVERSATION_NOUNS = frozenset(
    ["news", "question", "questions", "test", "tests", "testing", "sec", "second", "moment",
     "minute", "reply", "replies", "response", "message", "messages", "chat", "text", "update",
     "thing", "things", "time", "stuff", "idea", "plan", "point", "topic", "story", "joke",
     "mistake", "typo", "wrong", "one", "lot", "deal"]
)  # fmt: skip

# Words that address the listener ("Good morning coach", "Thanks mate").
VOCATIVES = frozenset(
    ["coach", "buddy", "mate", "man", "dude", "bro", "guys", "everyone", "team", "sir",
     "ma'am", "friend", "pal", "boss", "ray", "bot"]
)  # fmt: skip

# "I'm back", "I was busy": the speaker's state during the chat, gone by the next one.
TRANSIENT_STATES = frozenset(
    ["back", "busy", "here", "there", "ready", "around", "online", "offline", "away", "free",
     "available", "late", "done", "home", "in", "out", "up", "awake", "sorry", "confused",
     "lost"]
)  # fmt: skip

# Verbs whose dropped subject is "it", not "I": "Sounds like a plan", "Looks good".
IT_VERBS = frozenset(["sounds", "looks", "seems", "means", "makes", "works", "helps"])

# Keyboard tests and mashing: "test123", "testing, testing 1 2 3", "asdf".
TEST_TEXT = re.compile(
    r"^(?:(?:test(?:ing)?|check|mic)\W*)+[\d\s\W]*$|^test\w*\d+$|^(?:asdf\w*|qwerty\w*)$",
    re.IGNORECASE,
)

# Verbs that open a persona instruction ("Skip motivational language", "Always give paces").
IMPERATIVE_VERBS = frozenset(
    ["skip", "avoid", "use", "keep", "be", "focus", "stop", "start", "always", "never", "don't",
     "do", "give", "ask", "answer", "reply", "respond", "speak", "talk", "call", "address",
     "prefer", "mention", "include", "omit", "limit", "praise", "push", "encourage", "report",
     "cite", "explain", "stay", "sound", "write", "format", "round", "convert"]
)  # fmt: skip
