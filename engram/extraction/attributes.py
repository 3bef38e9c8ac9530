"""What a fact says about whom: holder, attribute slots, values and polarity.

The offline reconciler needs to know that "Max drives to work" and "Max sold their car and
cycles to work now" are about one attribute (how Max commutes) with two values, while "Max
runs in the early morning" and "Max swims in the evening" are about two. Sentence embeddings
cannot tell these apart (a restatement and a contradiction score alike), so a fact is read
into a `Reading`:

    holder      whom the fact is about: "self" (the subject, their body, their schedule) or
                another person or pet ("sister" in "Max's sister lives in Berlin")
    attributes  slot (diet, residence, job, commute, gear:<kind>, when:<activity>, ...),
                values (normalised words or numbers), polarity (+1, or -1 for a negation or
                an ending: "quit", "no longer", "healed"), and whether the slot holds one value
                at a time (a residence) or many (allergies)
    change      the fact announces a change ("switched", "now", "replaced", "new")

The lexicons are closed classes of everyday attributes; see docs/offline-extractor.md.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

_WORD = re.compile(r"[a-z0-9]+(?:[:.'\-][a-z0-9]+)*")

# Words that announce the old value no longer holds.
CHANGE_WORDS = frozenset(
    "now switched switch switching changed change moved replaced replace upgraded swapped "
    "instead new newly started starting again anymore longer relocated migrated converted "
    "became become ditched cancelled canceled sold dropped quit stopped left joined hired "
    "fired graduated retired withdrew withdrawn gave promoted laid turned"
    .split()
)  # fmt: skip
# Words that end what an older fact stated.
END_WORDS = frozenset(
    "quit quits quitting stopped stop stops ditched cancelled canceled sold withdrew withdrawn "
    "retired divorced healed recovered cured"
    .split()
)  # fmt: skip
# Two-word endings: "gave up", "dropped out", "laid off", ...
_END_PHRASES = frozenset({("gave", "up"), ("give", "up"), ("giving", "up"), ("dropped", "out"),
                          ("pulled", "out"), ("opted", "out"), ("cut", "out"), ("laid", "off"),
                          ("broke", "up"), ("split", "up"), ("moved", "away"),
                          ("lost", "their"), ("lost", "his"), ("lost", "her")})  # fmt: skip
NEGATIONS = frozenset(
    "not no never n't don't doesn't didn't isn't aren't wasn't won't can't cannot longer "
    "anymore without barely hardly"
    .split()
)  # fmt: skip
STOPWORDS = frozenset(
    "a an the to of in on at and or for with from by as is are was were be been being am has "
    "have had do does did it its this that these those their they them his her my me i "
    "very really just also still only so about some any all every each per than then there "
    "when while into over up down out off after before since last next this week weeks "
    "day days month months year years today yesterday usually often always currently "
    "completely fully totally again now new much more most less lot lots back way"
    .split()
)  # fmt: skip

RELATIVES = frozenset(
    "sister brother mother mom mum father dad parents parent wife husband partner girlfriend "
    "boyfriend fiance fiancee son daughter kids kid children child baby friend friends "
    "boss colleague coworker roommate neighbour neighbor uncle aunt cousin grandma grandpa "
    "grandmother grandfather dog cat puppy kitten pet family team coach physio doctor"
    .split()
)  # fmt: skip
# "Max's coach is Sarah": these roles name a relation of the subject, not another holder.
ROLES = frozenset(
    "coach physio physiotherapist doctor trainer therapist dietitian nutritionist "
    "doctor dentist manager boss"
    .split()
)  # fmt: skip

NUMBER_WORDS = {
    "zero": 0, "one": 1, "once": 1, "a": 1, "an": 1, "single": 1, "two": 2, "twice": 2,
    "three": 3, "thrice": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
}  # fmt: skip

_IRREGULAR = {
    "ran": "run", "running": "run", "swam": "swim", "swimming": "swim", "ate": "eat",
    "eaten": "eat", "drank": "drink", "drunk": "drink", "went": "go", "goes": "go",
    "gone": "gone", "left": "leave", "sold": "sell", "rode": "ride", "riding": "ride",
    "biking": "bike", "cycling": "cycle", "lives": "live", "living": "live", "lived": "live",
    "hiking": "hike", "smoking": "smoke", "jogging": "jog", "lifting": "lift",
    "trails": "trail", "roads": "road", "mornings": "morning", "evenings": "evening",
    "nights": "night", "afternoons": "afternoon", "coffees": "coffee", "kids": "kid",
    "children": "child", "feet": "foot", "knees": "knee", "shoes": "shoe", "hills": "hill",
    "treadmills": "treadmill", "carbs": "carb", "eggs": "egg", "weights": "weight",
    "was": "be", "is": "be", "are": "be", "has": "have", "had": "have", "does": "do",
    "did": "do", "wants": "want", "stopped": "stop", "dropped": "drop", "quits": "quit",
    "gave": "give", "given": "give", "peanuts": "peanut", "allergies": "allergy",
    "works": "work", "working": "work", "worked": "work", "trains": "train",
    "training": "train", "trained": "train", "races": "race", "racing": "race",
    "saturdays": "saturday", "sundays": "sunday", "mondays": "monday", "tuesdays": "tuesday",
    "wednesdays": "wednesday", "thursdays": "thursday", "fridays": "friday",
    "weekends": "weekend", "weekdays": "weekday", "lunches": "lunch", "runs": "run",
}  # fmt: skip


@functools.lru_cache(maxsize=16384)  # pure, and called for every word of every rule's lexicon
def stem(word: str) -> str:
    """A crude English stem, enough to match "swimming"/"swims"/"swim" and "coffees"."""
    w = word.lower().strip("'")
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if len(w) <= 4 or not w.isalpha():
        return w
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            base = w[: -len(suffix)]
            if len(base) > 2 and base[-1] == base[-2] and base[-1] not in "ls":
                base = base[:-1]  # "stopped" -> "stop"
            return base
    if w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "sses", "xes")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


# ----------------------------------------------------------------------------- lexicons

# Food groups and what each diet label says about them (+1 eats, -1 avoids).
FOOD_GROUPS = {
    "meat": "meat chicken beef pork lamb steak bacon ham turkey burger burgers sausage veal",
    "fish": "fish seafood salmon tuna shrimp prawns sushi sardines cod",
    "dairy": "dairy milk cheese yogurt yoghurt butter",
    "egg": "egg eggs",
    "carb": "carb carbs bread pasta rice sugar potatoes",
}
_FOOD = {w: group for group, words in FOOD_GROUPS.items() for w in words.split()}
DIET_LABELS: dict[str, dict[str, int]] = {
    "vegan": {"meat": -1, "fish": -1, "dairy": -1, "egg": -1},
    "plant-based": {"meat": -1, "fish": -1, "dairy": -1, "egg": -1},
    "vegetarian": {"meat": -1, "fish": -1},
    "veggie": {"meat": -1, "fish": -1},
    "pescatarian": {"meat": -1, "fish": 1},
    "pescetarian": {"meat": -1, "fish": 1},
    "keto": {"carb": -1},
    "paleo": {"carb": -1, "dairy": -1},
    "carnivore": {"meat": 1},
    "omnivore": {"meat": 1, "fish": 1},
}
_EAT = frozenset("eat eats eating ate eaten have having had consume consumes".split())

OCCUPATIONS = frozenset(
    "nurse paramedic teacher engineer developer programmer student accountant doctor lawyer "
    "designer manager consultant firefighter pilot chef cook waiter waitress barista "
    "electrician plumber carpenter mechanic driver scientist researcher professor lecturer "
    "journalist writer editor artist musician photographer architect pharmacist dentist "
    "vet veterinarian surgeon physician therapist physio physiotherapist analyst banker "
    "cashier clerk salesman saleswoman officer soldier policeman farmer freelancer "
    "contractor intern postdoc unemployed jobless retired student"
    .split()
)  # fmt: skip

SENIORITY = frozenset("junior senior lead head chief principal staff assistant associate "
                      "intern trainee".split())  # fmt: skip
_WORKPLACE = {"home": "remote", "remote": "remote", "remotely": "remote", "office": "office",
              "hybrid": "hybrid", "on-site": "office", "onsite": "office"}  # fmt: skip

# Gear and apps, by kind; longest names are matched first.
GEAR: dict[str, str] = {
    "app": "strava|garmin connect|runkeeper|nike run club|nrc|trainingpeaks|training peaks|"
    "final surge|runna|zwift|komoot|adidas running|map my run|mapmyrun|peloton app|"
    "intervals.icu|coros app|polar flow|suunto app|apple fitness|google fit",
    "music": "spotify|apple music|youtube music|deezer|tidal|pandora|soundcloud|amazon music",
    "watch": "apple watch|fitbit|garmin|forerunner|fenix|coros|polar|suunto|whoop|oura|"
    "galaxy watch|pixel watch|watch|tracker|smartwatch",
    "shoes": "pegasus|clifton|vaporfly|alphafly|ghost|kayano|novablast|nimbus|bondi|speedgoat|"
    "endorphin|kinvara|invincible|cloudmonster|hoka|brooks|asics|saucony|new balance|"
    "mizuno|altra|on cloud|nike|adidas|shoes|shoe|trainers|sneakers|racing flats",
    "headphones": "airpods|headphones|earbuds|shokz|aftershokz|beats",
    "phone": "iphone|android|pixel|samsung galaxy|phone",
    "bike": "road bike|gravel bike|mountain bike|e-bike|ebike",
}
# Kinds a person uses one of at a time: a new one replaces the old even without "switched".
SINGLE_GEAR = frozenset({"app", "music", "watch", "phone"})
_GEAR_PATTERNS = {
    kind: re.compile(r"\b(" + "|".join(sorted(names.split("|"), key=len, reverse=True)) + r")s?\b")
    for kind, names in GEAR.items()
}

ACTIVITIES = (
    "long run|long runs|tempo run|easy run|track session|intervals|strength|run|jog|swim|"
    "cycle|bike|ride|gym|lift|weight|yoga|pilates|climb|boulder|hike|row|walk|train|workout|crossfit|"
    "tennis|football|soccer|basketball|golf|ski|surf|dance|box|stretch|meditate|smoke|"
    "drink|coffee|tea|alcohol|wine|beer|cigarette|vape|nap|sleep|spin|study|learn|practice|"
    "play|cook|commute|bed|wake"
)
_ACTIVITY_STEMS = [a for a in ACTIVITIES.split("|")]
_HYPERNYM = {"wine": "alcohol", "beer": "alcohol", "whisky": "alcohol", "vodka": "alcohol",
             "cocktail": "alcohol", "booze": "alcohol", "cigarette": "smoke", "jog": "train",
             "run": "train",
             "lift": "weight", "weights": "weight", "bike": "cycle", "ride": "cycle",
             "spin": "cycle", "workout": "train", "exercise": "train",
             "trail": "trail", "trails": "trail", "office": "work", "job": "work"}  # fmt: skip

TIMES_OF_DAY = {
    "morning": "morning", "mornings": "morning", "dawn": "morning", "sunrise": "morning",
    "breakfast": "morning", "am": "morning", "lunch": "midday", "lunchtime": "midday",
    "noon": "midday", "midday": "midday", "afternoon": "afternoon", "afternoons": "afternoon",
    "evening": "evening", "evenings": "evening", "night": "night", "nights": "night",
    "sunset": "evening", "dinner": "evening", "pm": "evening",
}  # fmt: skip
_CLOCK = re.compile(r"\b\d{1,2}(?::\d{2})? ?(?:am|pm)\b")
_PLACES = {
    "treadmill": "indoors", "treadmills": "indoors", "indoors": "indoors", "inside": "indoors",
    "gym": "indoors", "outside": "outdoors", "outdoors": "outdoors", "trail": "trail",
    "trails": "trail", "road": "road", "roads": "road", "track": "track", "grass": "grass",
}  # fmt: skip
_COMPANY = {
    "alone": "alone", "solo": "alone", "myself": "alone", "themselves": "alone",
    "club": "group", "group": "group", "groups": "group", "crew": "group", "team": "group",
    "friends": "friends", "friend": "friends", "partner": "partner", "wife": "partner",
    "husband": "partner", "girlfriend": "partner", "boyfriend": "partner", "dog": "dog",
}  # fmt: skip
_BEFORE_AFTER = re.compile(r"\b(before|after) (work|school|the kids wake up|breakfast|dinner)\b")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
        "weekend", "weekday")  # fmt: skip

BODY_PARTS = frozenset(
    "knee knees ankle ankles foot feet back hip hips shoulder shoulders hamstring hamstrings "
    "calf calves achilles shin shins wrist wrists neck elbow elbows heel heels toe toes quad "
    "quads groin glute glutes it-band itb arch arches leg legs arm arms chest head "
    "plantar fascia tendon lungs heart stomach"
    .split()
)  # fmt: skip
PAIN_WORDS = frozenset(
    "splints fasciitis tendinopathy bursitis blisters blister cramps cramp "
    "hurt hurts hurting pain painful sore ache aches aching injured injury injuries fracture "
    "fractured broken sprain sprained strain strained tear torn tendinitis tendonitis "
    "flares flare inflamed swollen stiff tight bruised rolled twisted pulled niggle issue "
    "problem problems surgery"
    .split()
)  # fmt: skip
HEALED_WORDS = frozenset(
    "healed heals recovered better fine ok okay gone cleared cured resolved pain-free "
    "painless fixed strong great good healthy normal"
    .split()
)  # fmt: skip

LIKE_WORDS = frozenset("like likes liked love loves loved enjoy enjoys enjoyed prefer "
                       "prefers preferred favourite favorite fan adore adores".split())  # fmt: skip
DISLIKE_WORDS = frozenset("hate hates hated dislike dislikes disliked detest detests avoid "
                          "avoids loathe loathes dread dreads dreading".split())  # fmt: skip
_CANT_STAND = re.compile(r"\b(can't|cannot|can not|couldn't) (stand|bear)\b|\bsick of\b|"
                         r"\btired of\b|\bnot a fan\b")  # fmt: skip
ASPECTS = {
    "surface": "trail trails road roads track tracks treadmill treadmills grass sand hill "
    "hills mountain mountains asphalt pavement concrete dirt gravel beach forest",
    "company": "alone solo group groups club partner friends friend company buddy people",
    "weather": "rain rainy heat hot cold snow wind windy sun sunny humidity humid weather "
    "winter summer",
    "sound": "music podcast podcasts audiobooks silence headphones",
}
_ASPECT = {w: aspect for aspect, words in ASPECTS.items() for w in words.split()}

RELATIONSHIP = {
    "single": "single", "married": "married", "wife": "married", "husband": "married",
    "spouse": "married", "girlfriend": "dating", "boyfriend": "dating", "dating": "dating",
    "partner": "dating", "engaged": "engaged", "fiance": "engaged", "fiancee": "engaged",
    "divorced": "divorced", "separated": "divorced", "widowed": "widowed", "widow": "widowed",
    "widower": "widowed",
}  # fmt: skip
_BROKE_UP = re.compile(r"\b(broke up|split up|split from|left (their|his|her) (wife|husband|"
                       r"partner|girlfriend|boyfriend))\b")  # fmt: skip

DISTANCES = ("half marathon", "half-marathon", "marathon", "ultra", "ultramarathon", "50k",
             "100k", "10k", "5k", "15k", "10 mile", "mile", "triathlon", "ironman",
             "70.3", "parkrun")  # fmt: skip
_DISTANCE = re.compile(r"\b(" + "|".join(re.escape(d) for d in DISTANCES) + r")\b")
_GOAL = re.compile(r"\b(wants? to|want|goal|goals|aim|aims|aiming|target|targets|hope|"
                   r"hopes|hoping|plan|plans|planning|dream|dreams|would like to|"
                   r"trying to|intends?)\b")  # fmt: skip
_TRAINING_FOR = re.compile(r"\b(training for|signed up for|registered for|entered|"
                           r"withdrew from|pulled out of|dropped out of|racing)\b")  # fmt: skip
_NUMBER = re.compile(r"\d+(?::\d+)?(?:\.\d+)?")

_RESIDENCE = re.compile(r"\b(lives?|living|lived|resides?|based|settled|moved|moving|"
                        r"relocated|relocating|home is)\b")  # fmt: skip
_ORIGIN = re.compile(r"\b(grew up|born|raised|is from|comes from|originally from)\b")
_JOB = re.compile(r"\b(works? (as|at|for|in)|worked (as|at|for)|job|jobs|employer|career|"
                  r"employed|unemployed|hired|promoted|laid off|resigned|graduated|"
                  r"retired|(joined|left) (a |an |the )?(startup|company|firm|bank|agency))"
                  r"\b")  # fmt: skip
_COMMUTE = re.compile(r"\b(drives?|drove|cycles?|cycled|bikes?|biked|walks?|walked|takes? the "
                      r"(bus|train|tube|subway|metro|tram)|commutes?|rides?|runs?|carpools?)\b"
                      r".{0,30}?\b(to|into) (work|the office|office|school|campus|uni|"
                      r"university|college)\b")  # fmt: skip
_COMMUTE_MODES = {
    "drive": "car", "drives": "car", "drove": "car", "car": "car", "carpool": "car",
    "cycle": "bike", "cycles": "bike", "cycled": "bike", "bike": "bike", "bikes": "bike",
    "biked": "bike", "ride": "bike", "rides": "bike", "walk": "walk", "walks": "walk",
    "walked": "walk", "bus": "bus", "train": "train", "tube": "train", "subway": "train",
    "metro": "train", "tram": "train", "run": "run", "runs": "run",
}  # fmt: skip
_MEASURES = (
    ("weight", re.compile(r"\b(weighs?|weighed|weight is)\b|"
                          r"\d+(\.\d+)? ?(kg|kilos?|lbs?|pounds)\b")),
    ("mileage", re.compile(r"\b(miles|km|kilometers|kilometres|k)\b (a|per|each) week\b|"
                           r"\bweekly (mileage|volume|distance)\b|\bmileage\b")),
    ("sleep", re.compile(r"\bsleep\w*\b.*\bhours?\b|\bhours? (of sleep|a night|per night)\b")),
    ("age", re.compile(r"\b(years old|aged|turned \d+|age is)\b|\b(is|am) \d{1,3}$")),
    ("resting_hr", re.compile(r"\b(resting heart rate|resting hr|rhr)\b")),
    ("height", re.compile(r"\b(tall|height|cm tall)\b")),
)  # fmt: skip
_PB = re.compile(r"\b(best|pb|pr|personal best|personal record|record)\b")
_ALLERGY = re.compile(r"\ballergic to ([\w\- ]+)|\b([\w\-]+) (allergy|intolerance)\b|"
                      r"\bintolerant to ([\w\- ]+)|\b([\w\-]+) intolerant\b")  # fmt: skip
_LANGUAGE = re.compile(r"\b(speaks?|learning|learns?|studying|studies|fluent in) "
                       r"([A-Z][a-z]+)")  # fmt: skip
_FREQUENCY = re.compile(
    r"\b(?P<count>\d+|once|twice|thrice|one|two|three|four|five|six|seven|a|an)\b"
    r"(?: \w+){0,3}? (?:times? |days? |sessions? |runs? )?(?:a|per|each|every) "
    r"(?P<period>day|week|month|night|morning|evening)\b"
    r"|\b(?P<every>every|each) (?P<eperiod>day|morning|evening|night|week|weekday)\b"
    r"|\b(?P<daily>daily|nightly|weekly)\b"
)  # fmt: skip
_UNIT = re.compile(r"\b(km|k|kms|miles?|kilomet\w+|hours?|minutes?|mins?|kg|kilos?|lbs?|"
                   r"pounds|calories|kcal|steps|meters|metres)\b")
_PER_WEEK = {"day": 7, "morning": 7, "evening": 7, "night": 7, "weekday": 5, "week": 1,
             "month": 0.25}  # fmt: skip



@dataclass(frozen=True)
class Attribute:
    slot: str  # "diet", "residence", "gear:watch", "when:run", "body:knee", ...
    values: frozenset[str]
    polarity: int = 1  # -1: negated or ended ("no longer", "quit", "healed")
    single: bool = True  # one value at a time: a different value replaces the old one


@dataclass(frozen=True)
class Reading:
    holder: str
    attributes: dict[str, Attribute] = field(default_factory=dict)
    change: bool = False  # "switched", "now", "new", "replaced", ...
    negated: bool = False  # "not", "no longer", "quit", ...
    ends: frozenset[str] = frozenset()  # stems of what an ending word ends ("quit smoking")
    stems: frozenset[str] = frozenset()


# ----------------------------------------------------------------------------- reading


# Single words that say a habit ended, spelled out so one rule reads them all.
_REWORDINGS = (
    (re.compile(r"\b(\w+)-free\b"), r"no longer \1"),  # "smoke-free", "pain-free", "meat-free"
    (re.compile(r"\b(sober|teetotal|teetotaler|teetotaller)\b"), "no longer drinking alcohol"),
    (re.compile(r"\bnon-?smoker\b"), "no longer smoking"),
)


def read(text: str, subject: str | None = None) -> Reading:
    """The holder and attributes of a third-person fact ("Max quit smoking")."""
    lowered = text.lower().replace("\u2019", "'")
    lowered = lowered.replace("can't", "cannot").replace("won't", "will not").replace("n't", " n't")
    for pattern, replacement in _REWORDINGS:
        lowered = pattern.sub(replacement, lowered)
    words = _WORD.findall(lowered)
    holder = _holder(text, words, subject)
    negated = any(w in NEGATIONS for w in words)
    attrs: dict[str, Attribute] = {}
    for detector in _DETECTORS:
        for attribute in detector(text, lowered, words, negated):
            attrs.setdefault(attribute.slot, attribute)
    habit = _habit(words, lowered, negated, attrs)
    if habit is not None:
        attrs.setdefault(habit.slot, habit)
    stems = frozenset(_HYPERNYM.get(stem(w), stem(w)) for w in words if w not in STOPWORDS)
    return Reading(
        holder=holder,
        attributes=attrs,
        change=any(w in CHANGE_WORDS for w in words) or negated,
        negated=negated or bool(_ended(words)),
        ends=_ended(words),
        stems=stems,
    )


# Habits one has or has not: "doesn't drink coffee" -> "has started drinking coffee".
HABITS = frozenset({"smoke", "vape", "drink", "coffee", "tea", "alcohol", "beer", "wine"})


def _habit(words: list[str], low: str, negated: bool, attrs: dict[str, Attribute]
           ) -> Attribute | None:
    """Whether the user has a habit at all, when the fact says nothing more (no time, day or
    frequency: "doesn't drink on weekdays" says less than that)."""
    if any(slot.split(":")[0] in {"when", "day", "often"} for slot in attrs):
        return None
    found = [_HYPERNYM.get(stem(w), stem(w)) for w in words]
    habit = next((h for h in reversed(found) if h in HABITS), None)
    if habit is None:
        return None
    return Attribute(f"does:{habit}", frozenset({"yes"}), -1 if negated else 1)


def states_attribute(text: str, subject: str | None = None) -> bool:
    """Does the fact state an attribute of the user themself (diet, gear, an injury...)?"""
    reading = read(text, subject)
    return reading.holder == "self" and bool(reading.attributes)


def _holder(text: str, words: list[str], subject: str | None) -> str:
    """ "self" unless the fact's subject is someone else: "Max's sister lives in Berlin"."""
    name = (subject or "the user").lower()
    lowered = text.lower()
    match = re.search(re.escape(name) + r"'s ((?:\w+ ){0,2}?)(\w+)", lowered)
    if match:
        noun = match.group(2)
        rest = text[match.end():]
        naming = re.match(r"\s+(is|was)\s+(called|named)\b|\s+(is|was)\s+[A-Z][a-z]+$", rest)
        if noun in RELATIVES and not naming:  # "Max's coach is Sarah" names a relation
            return noun
    if re.search(r"\b" + re.escape(name) + r"\b", lowered):
        return "self"
    first = stem(words[0]) if words else ""
    if not words or first in _OWN_THINGS or _HYPERNYM.get(first, first) in _ACTIVITY_STEMS:
        return "self"  # "Yoga is on Wednesdays now": an activity, not another person
    return words[0]


_OWN_THINGS = frozenset({"long run", "race", "goal", "diet", "weight", "mileage", "pace",
                         "schedule", "training", "plan"}) | BODY_PARTS
_SIDE_BEFORE = frozenset({"their", "his", "her", "my", "the", "on", "to"})


def _ended(words: list[str]) -> frozenset[str]:
    """What an ending word ends: "stopped drinking alcohol" -> {drink, alcohol}."""
    for i, w in enumerate(words):
        if w == "left" and (i + 1 == len(words) or words[i - 1] in _SIDE_BEFORE
                            or words[i + 1] in BODY_PARTS | {"side", "hand"}):
            continue  # "their left foot" is a side, not a leaving
        phrase = (w, words[i + 1]) in _END_PHRASES if i + 1 < len(words) else False
        no_more = w in NEGATIONS and ({"anymore", "longer"} & set(words[i + 1 :]))
        if w in END_WORDS or phrase or no_more:
            out = []
            for nxt in words[i + 1 : i + 5]:
                if nxt in {"in", "on", "at", "and", "but", "since", "last", "because", "for",
                           "after", "before", "with", "to", "from"} and out:  # fmt: skip
                    break
                if nxt in STOPWORDS | NEGATIONS or nxt.endswith("ly") or nxt in {"up", "on"}:
                    continue
                out.append(_HYPERNYM.get(stem(nxt), stem(nxt)))
            if out:
                return frozenset(out)
    return frozenset()


# ----------------------------------------------------------------------------- detectors


def _diet(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    stance: dict[str, int] = {}
    labels = [w for w in words if w in DIET_LABELS]
    if "plant-based" in low:
        labels.append("plant-based")
    ended = bool(set(words) & (END_WORDS | {"dropped", "gave", "left", "ditched"}))
    for label in labels:
        sign = -1 if (negated or ended) else 1
        for group, s in DIET_LABELS[label].items():
            stance[group] = s * sign
    eats = any(w in _EAT for w in words) or "back to" in low
    for i, w in enumerate(words):
        group = _FOOD.get(w)
        if group and (eats or w in {"meat", "fish", "dairy", "carbs"}):
            before = words[max(0, i - 4) : i]
            avoid = any(b in NEGATIONS or b in END_WORDS or b in {"avoid", "avoids", "cut"}
                        for b in before)  # fmt: skip
            stance[group] = -1 if avoid else 1
    if not stance or (not labels and _ONE_MEAL.search(low) and not _HABITUAL.search(low)):
        return []  # "had pasta for lunch" is a meal, not a diet
    values = frozenset(f"{g}{'+' if s > 0 else '-'}" for g, s in stance.items())
    return [Attribute("diet", values | frozenset(f"label:{x}" for x in labels))]


_ONE_MEAL = re.compile(r"\b(for (breakfast|lunch|dinner|brunch|supper)|today|yesterday|tonight|"
                       r"last night|this (morning|evening))\b")
_HABITUAL = re.compile(r"\b(every|always|usually|daily|again|anymore|since|now|no longer|"
                       r"never|often)\b")


def _work_hours(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    match = re.search(r"\bworks? (?:(\w+(?:-\w+)?) )?(?:(\w+) )?shifts?\b|"
                      r"\bworks? (\d+)[- ]hour", low)
    if not match:
        return []
    return [Attribute("work_hours", frozenset(g for g in match.groups() if g))]


def _residence(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    if _ORIGIN.search(low):
        return [Attribute("origin", _place_values(text, low, _ORIGIN))]
    match = _RESIDENCE.search(low)
    if not match:
        return []
    after = low[match.end():]
    if not re.match(r"\s*(in|to|into|at|near|out|away|back|from|abroad|downtown|here|with|alone)\b",
                    after):  # fmt: skip
        return []
    return [Attribute("residence", _place_values(text, low, _RESIDENCE))]


def _place_values(text: str, low: str, pattern: re.Pattern[str]) -> frozenset[str]:
    match = pattern.search(low)
    tail = text[match.end():] if match else text
    tail = re.sub(r"^(\s*(with|in|into|to|at)\b)+", "", tail)  # "moved in with their partner"
    tail = re.split(r"\b(since|last|in \d{4}|because|but|with|for)\b|[,(]", tail)[0]
    return frozenset(stem(w) for w in _WORD.findall(tail.lower()) if w not in STOPWORDS)


def _job(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    roles = {w for w in words if w in OCCUPATIONS}
    is_role = re.search(r"\b(is|as|became|be|am) (a|an|now a|now an)?\s*(\w+ )?(" +
                        "|".join(OCCUPATIONS) + r")\b", low)  # fmt: skip
    joined = re.search(r"\b(joined|left) (?:a |an |the )?[A-Z]", text)
    if not (_JOB.search(low) or is_role or joined) or "volunteer" in low:
        return []
    roles |= {w for w in words if w in SENIORITY}
    employers = set(re.findall(r"\b(?:at|for|joined|left) (?:a |an |the )?([A-Z][\w&]+|"
                               r"startup|bank|hospital|school|company|firm|agency)", text))
    values = frozenset(roles | {e.lower() for e in employers})
    return [Attribute("job", values, -1 if negated else 1)]


def _workplace(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    match = re.search(r"\b(works?|working|worked|is|am)\b.{0,25}?\b(from home|remotely|remote|"
                      r"hybrid|in the office|at the office|on-site|onsite)\b|\bback in the "
                      r"office\b", low)  # fmt: skip
    if not match:
        return []
    found = {v for k, v in _WORKPLACE.items() if re.search(rf"\b{k}\b", match.group(0))}
    return [Attribute("workplace", frozenset(found))]


def _commute(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    match = _COMMUTE.search(low)
    if not match and not re.search(r"\bsold (their|his|her|the) car\b", low):
        return []
    modes = frozenset(_COMMUTE_MODES[w] for w in _WORD.findall(match.group(0) if match else "car")
                      if w in _COMMUTE_MODES)  # fmt: skip
    destination = "school" if match and re.search(r"school|campus|uni|college", match[0]) \
        else "work"  # fmt: skip
    return [Attribute(f"commute:{destination}", modes)]


def _gear(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    out = []
    taken: list[tuple[int, int]] = []
    for kind in ("app", "music", "headphones", "shoes", "watch", "phone", "bike"):
        names = []
        for m in _GEAR_PATTERNS[kind].finditer(low):
            if any(a <= m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            names.append(m.group(1))
        specific = [n for n in names if n not in {"watch", "tracker", "shoe", "shoes", "phone",
                                                  "trainers", "sneakers", "smartwatch"}]
        if names:
            models = set(re.findall(r"\b\d{2,4}\b", low)) if kind == "watch" else set()
            values = frozenset(specific or names) | frozenset(models)
            out.append(Attribute(f"gear:{kind}", values, single=kind in SINGLE_GEAR))
    return out


def _activity(words: list[str], low: str) -> str | None:
    for phrase in ("long run", "tempo run", "easy run", "track session", "intervals"):
        if phrase in low:
            return phrase
    for w in words:
        s = _HYPERNYM.get(stem(w), stem(w))
        if s in _ACTIVITY_STEMS and s not in {"drink", "play", "commute"}:
            return s
    for w in words:
        s = stem(w)
        if s in {"drink", "play"}:
            return s
    return None


def _when(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    activity = _activity(words, low)
    if activity is None or re.search(r"\bwork(s|ed)? (night|day|early|late) shifts?\b", low):
        return []
    out = []
    times = {TIMES_OF_DAY[w] for w in words if w in TIMES_OF_DAY}
    times |= {f"{a}-{b}" for a, b in _BEFORE_AFTER.findall(low)}
    times |= {re.sub(r"\s", "", m) for m in _CLOCK.findall(low)}
    if times and not re.search(r"\b(every|each|a|per) (morning|evening|night)\b", low):
        out.append(Attribute(f"when:{activity}", frozenset(times), -1 if negated else 1))
    places = {_PLACES[w] for w in words if w in _PLACES}
    if places:  # "runs on the treadmill" -> "does all their runs outside now"
        out.append(Attribute(f"where:{activity}", frozenset(places), single=False))
    company = {_COMPANY[w] for w in words if w in _COMPANY}
    if company and re.search(r"\b(with|alone|solo|by (them|him|her)self)\b", low):
        out.append(Attribute(f"company:{activity}", frozenset(company), single=False))
    days = {d for d in DAYS for w in words if stem(w) == d}
    if days:
        out.append(Attribute(f"day:{activity}", frozenset(days), -1 if negated else 1))
    return out


def _frequency(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    activity = _activity(words, low)
    match = _FREQUENCY.search(low)
    if activity is None or match is None or _UNIT.search(match.group(0)):
        return []
    if match["daily"]:
        per_week = {"daily": 7, "nightly": 7, "weekly": 1}[match["daily"]]
    elif match["every"]:
        per_week = _PER_WEEK[match["eperiod"]]
    else:
        count = match["count"]
        n = float(count) if count.isdigit() else NUMBER_WORDS.get(count, 1)
        per_week = n * _PER_WEEK.get(match["period"], 1)
    return [Attribute(f"often:{activity}", frozenset({f"{per_week:g}"}), -1 if negated else 1)]


def _body(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    out = []
    pain = any(stem(w) in PAIN_WORDS or w in PAIN_WORDS for w in words)
    healed = any(w in HEALED_WORDS for w in words) or (negated and pain)
    for i, w in enumerate(words):
        if w not in BODY_PARTS:
            continue
        part = stem(w) if w not in {"feet"} else "foot"
        side = {"left", "right"} & set(words[max(0, i - 3) : i])
        if not (pain or healed):
            continue
        state = "healed" if healed else "hurt"
        values = frozenset({state} | {f"side:{s}" for s in side})
        out.append(Attribute(f"body:{part}", values, -1 if healed else 1))
    return out


# Words before "like"/"love" that make it a preposition or a noun ("felt like", "loads of love").
_NOT_A_LIKING = frozenset("feel felt feels feeling look looks looked seem seems seemed sound "
                          "sounds something of with so much is was be been being the a their "
                          "our your his her my more just".split())  # fmt: skip


def _is_verb_slot(words: list[str], i: int) -> bool:
    """A liking verb near the start of the fact ("Max really loves ..."), not "felt like"."""
    return i <= 5 and (i == 0 or words[i - 1] not in _NOT_A_LIKING)


def _preference(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    like = [i for i, w in enumerate(words) if w in LIKE_WORDS and _is_verb_slot(words, i)]
    dislike = [i for i, w in enumerate(words) if w in DISLIKE_WORDS and _is_verb_slot(words, i)]
    cant = _CANT_STAND.search(low)
    if not (like or dislike or cant):
        return []
    positive = bool(like) and not cant and not dislike
    if positive and negated and not re.search(r"\bprefer", low):
        positive = False  # "doesn't like"
    start = min(like + dislike) if (like or dislike) else 0
    if cant:
        start = len(_WORD.findall(low[: cant.end()]))
    objects = [stem(w) for w in words[start + 1 :] if w not in STOPWORDS and w not in LIKE_WORDS
               and w not in NEGATIONS]  # fmt: skip
    aspects = {_ASPECT[w] for w in words[start:] if w in _ASPECT}
    comparative = "prefer" in low or "over" in words or "than" in words
    out = []
    for aspect in sorted(aspects):
        values = frozenset(stem(w) for w in words[start:] if _ASPECT.get(w) == aspect)
        single = comparative or aspect == "company"
        out.append(Attribute(f"pref:{aspect}", values, 1 if positive else -1, single=single))
    if not aspects and objects:
        out.append(Attribute(f"pref:{objects[0]}", frozenset(objects), 1 if positive else -1))
    return out


def _relationship(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    out = []
    statuses = {RELATIONSHIP[w] for w in words if w in RELATIONSHIP}
    if _BROKE_UP.search(low):
        statuses = {"single"}
    if re.search(r"\bgot married\b", low):
        statuses = {"married"}
    if statuses:
        out.append(Attribute("relationship", frozenset(statuses), -1 if negated else 1))
    for w in words:
        if w in ROLES and w not in {"doctor", "manager", "boss"} | OCCUPATIONS - {"physio"}:
            names = re.findall(r"\b[A-Z][a-z]+\b", text)[1:]
            out.append(Attribute(f"role:{w}", frozenset(n.lower() for n in names)))
    return out


def _measures(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    if _GOAL.search(low):
        return []
    numbers = frozenset(_numbers(low))
    out = []
    distance = _DISTANCE.search(low)
    if _PB.search(low) and distance and numbers - {distance.group(1).rstrip("k")}:
        values = numbers - {re.sub(r"\D", "", distance.group(1))}
        out.append(Attribute(f"best:{distance.group(1)}", values))
    for name, pattern in _MEASURES:
        if pattern.search(low) and numbers:
            if name == "mileage":  # "runs 20 km a week" and "cycles 100 km a week" are two
                name = f"mileage:{_activity(words, low) or 'run'}"
            out.append(Attribute(f"measure:{name}", numbers))
    return out


def _numbers(low: str) -> list[str]:
    found = _NUMBER.findall(re.sub(r"\b\d+k\b", " ", low))
    for w in _WORD.findall(low):
        if w in NUMBER_WORDS and w not in {"a", "an", "one", "once", "single"}:
            found.append(str(NUMBER_WORDS[w]))
    return [f.rstrip("0").rstrip(".") if "." in f else f for f in found]


def _goal(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    training = _TRAINING_FOR.search(low)
    if not (_GOAL.search(low) or training):
        return []
    distance = _DISTANCE.search(low)
    if re.search(r"\b(kg|kilos?|lbs?|pounds|weight)\b", low):
        key = "weight"
    elif distance:
        key = distance.group(1).replace("-", " ")
    else:
        return []
    race = frozenset(w.lower() for w in re.findall(r"\b[A-Z][a-z]+\b", text)[1:]
                     if w.lower() not in {"marathon", "half"})  # fmt: skip
    numbers = frozenset(_numbers(re.sub(r"\b\d+k\b", "", low)))
    ended = training is not None and training.group(1) in {"withdrew from", "pulled out of",
                                                           "dropped out of"}  # fmt: skip
    return [Attribute(f"goal:{key}", numbers | race, -1 if ended else 1, single=bool(numbers))]


def _allergy(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    out = []
    for match in _ALLERGY.finditer(low):
        thing = next(g for g in match.groups() if g and g not in {"allergy", "intolerance"})
        head = [stem(w) for w in thing.split() if w not in STOPWORDS][:1]
        if head:
            out.append(Attribute(f"allergy:{head[0]}", frozenset(head),
                                 -1 if negated else 1, single=False))  # fmt: skip
    return out


def _language(text: str, low: str, words: list[str], negated: bool) -> list[Attribute]:
    return [Attribute(f"language:{m.group(2).lower()}", frozenset({m.group(1)[:5]}),
                      -1 if negated else 1, single=False)
            for m in _LANGUAGE.finditer(text)]  # fmt: skip


_DETECTORS = (_diet, _residence, _job, _work_hours, _workplace, _commute, _gear, _when,
              _frequency, _body, _preference, _relationship, _measures, _goal, _allergy,
              _language)  # fmt: skip
