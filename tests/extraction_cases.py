"""Labelled cases for the offline fact extractor (engram.extraction.offline).

Each case: the messages of one `Memory.add` call, the subject's display name, the agent id,
and the facts a careful human would store. `expected` is matched exactly (order included);
cases with `substrings` instead only require every listed substring to appear in some fact
and the fact count to equal `count`. Cases marked `hard` are known to be beyond the offline
rules today; they stay in the table so the measured accuracy is honest.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    name: str
    messages: list[dict[str, str]]
    expected: list[str] | None = None
    subject: str | None = "Max"
    agent: str | None = None
    substrings: list[str] = field(default_factory=list)
    count: int | None = None
    hard: bool = False


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def system(text: str) -> dict[str, str]:
    return {"role": "system", "content": text}


CASES: list[Case] = [
    # -- splitting into atomic facts
    Case(
        "two clauses with and",
        [user("I'm 34 and I live in Lyon")],
        ["Max is 34", "Max lives in Lyon"],
    ),
    Case(
        "two clauses with comma",
        [user("I'm 34, I live in Lyon")],
        ["Max is 34", "Max lives in Lyon"],
    ),
    Case(
        "two sentences",
        [user("I moved to Berlin in 2020. I work as a nurse.")],
        ["Max moved to Berlin in 2020", "Max works as a nurse"],
    ),
    Case(
        "but clause",
        [user("I'm a vegetarian but I eat fish")],
        ["Max is a vegetarian", "Max eats fish"],
    ),
    Case(
        "and + possessive subject",
        [user("I'm training for the Berlin marathon and my goal is sub-4")],
        ["Max is training for the Berlin marathon", "Max's goal is sub-4"],
    ),
    Case(
        "shared subject stays one fact",
        [user("I live in New York and work at Google")],
        ["Max lives in New York and works at Google"],
    ),
    Case(
        "conjoined verbs agree",
        [user("I usually go to the gym and swim on Sundays")],
        ["Max usually goes to the gym and swims on Sundays"],
    ),
    Case(
        "list of objects not split",
        [user("I have two kids, Leo and Mia")],
        ["Max has two kids, Leo and Mia"],
    ),
    # -- filler and questions
    Case("filler lol ok", [user("hey lol ok")], []),
    Case("small talk", [user("hey how's it going")], []),
    Case("thanks", [user("cool thanks")], []),
    Case("bye", [user("gtg bye")], []),
    Case("chinese filler", [user("哈哈好的谢谢")], []),
    Case("question without info", [user("What should I focus on today?")], []),
    Case("question to assistant", [user("Do you have any tips for hill running?")], []),
    Case("thanks that helps", [user("Thanks, that helps!")], []),
    Case("emoji only", [user("👍")], []),
    Case(
        "question keeps its fact",
        [user("I want to run a marathon in under 4 hours, do you think I can?")],
        ["Max wants to run a marathon in under 4 hours"],
    ),
    Case(
        "fact then tail question",
        [user("I'm training for Boston, any tips?")],
        ["Max is training for Boston"],
    ),
    Case(
        "question then fact",
        [user("Can you recommend shoes? I have flat feet.")],
        ["Max has flat feet"],
    ),
    Case("opener filler stripped", [user("ok so I'm vegan lol")], ["Max is vegan"]),
    Case("trailing thanks stripped", [user("I'm vegan, thanks!")], ["Max is vegan"]),
    Case("request to assistant", [user("Give me a 5k plan")], []),
    # -- first -> third person, verb agreement
    Case(
        "prefer",
        [user("I prefer trail running over roads")],
        ["Max prefers trail running over roads"],
    ),
    Case(
        "my knee flares",
        [user("My right knee flares up on downhills")],
        ["Max's right knee flares up on downhills"],
    ),
    Case(
        "lowercase my", [user("my right knee hurts downhill")], ["Max's right knee hurts downhill"]
    ),
    Case("allergic", [user("I'm allergic to peanuts")], ["Max is allergic to peanuts"]),
    Case(
        "have been", [user("I've been running for 3 years")], ["Max has been running for 3 years"]
    ),
    Case("want", [user("I want a new watch")], ["Max wants a new watch"]),
    Case("have", [user("i have two kids")], ["Max has two kids"]),
    Case("was", [user("I was a competitive swimmer")], ["Max was a competitive swimmer"]),
    Case("don't", [user("I don't eat meat")], ["Max doesn't eat meat"]),
    Case("can't", [user("I can't run on Mondays")], ["Max can't run on Mondays"]),
    Case("would like", [user("I'd like to try yoga")], ["Max would like to try yoga"]),
    Case("I'll", [user("I'll be in Paris next week")], ["Max will be in Paris next week"]),
    Case("will", [user("I will start on Monday")], ["Max will start on Monday"]),
    Case("modal unchanged", [user("I should stretch more")], ["Max should stretch more"]),
    Case("had been", [user("I'd been injured for months")], ["Max had been injured for months"]),
    Case("never", [user("I have never run a marathon")], ["Max has never run a marathon"]),
    Case("-ies inflection", [user("I try to sleep 8 hours")], ["Max tries to sleep 8 hours"]),
    Case(
        "-es inflection + their",
        [user("I watch my diet closely")],
        ["Max watches their diet closely"],
    ),
    Case("Im without apostrophe", [user("Im vegan")], ["Max is vegan"]),
    Case(
        "second I becomes they",
        [user("I think I can finish in 4 hours")],
        ["Max thinks they can finish in 4 hours"],
    ),
    Case("object me", [user("My coach told me to rest")], ["Max's coach told Max to rest"]),
    Case(
        "self introduction",
        [user("Hi! I'm Max, a software engineer from Lyon.")],
        ["Max is a software engineer from Lyon"],
    ),
    # -- third parties
    Case("third party kept", [user("Bob has a PhD")], ["Bob has a PhD"]),
    Case(
        "relative of subject",
        [user("My sister Anna lives in Oslo")],
        ["Max's sister Anna lives in Oslo"],
    ),
    Case("third party with my", [user("Bob borrowed my bike")], ["Bob borrowed Max's bike"]),
    Case(
        "compound subject",
        [user("My wife and I run together on weekends")],
        ["Max's wife and Max run together on weekends"],
        hard=True,
    ),
    # -- fragments with an implied subject
    Case("noun fragment", [user("10x400m intervals")], ["Max: 10x400m intervals"]),
    Case("noun fragment 2", [user("easy run today")], ["Max: easy run today"]),
    Case(
        "verb fragment",
        [user("Rolled ankle, need light workouts")],
        ["Max rolled ankle, needs light workouts"],
    ),
    Case(
        "verb fragment with my",
        [user("Rolled my left ankle, needs rest")],
        ["Max rolled their left ankle, needs rest"],
    ),
    Case("verb fragment present", [user("Love trail running")], ["Max loves trail running"]),
    Case("gerund fragment", [user("Feeling tired today")], ["Max is feeling tired today"]),
    Case("past fragment", [user("Started physio last week")], ["Max started physio last week"]),
    # -- no subject name
    Case(
        "no subject",
        [user("I prefer trail running over roads")],
        ["The user prefers trail running over roads"],
        subject=None,
    ),
    Case(
        "no subject possessive",
        [user("My dog is called Rex")],
        ["The user's dog is called Rex"],
        subject=None,
    ),
    Case(
        "no subject mid-sentence",
        [user("Bob borrowed my bike")],
        ["Bob borrowed the user's bike"],
        subject=None,
    ),
    # -- roles
    Case(
        "persona system message",
        [system("Max wants direct, data-driven feedback. Skip motivational language.")],
        ["Max wants direct, data-driven feedback", "Skip motivational language"],
        agent="ray_coach",
    ),
    Case(
        "persona bullet list",
        [system("You are Ray, a running coach.\n- Be concise.\n- Use metric units.")],
        ["You are Ray, a running coach", "Be concise", "Use metric units"],
        agent="ray_coach",
    ),
    Case(
        "assistant yields nothing",
        [assistant("That's a solid goal. What's your weekly mileage?")],
        [],
    ),
    Case(
        "conversation",
        [
            user("I want to run a marathon in under 4 hours, do you think I can?"),
            assistant("That's a solid goal. What's your weekly mileage?"),
            user("about 30 km a week. My right knee flares up on downhills"),
            user("cool thanks"),
        ],
        substrings=[
            "Max wants to run a marathon in under 4 hours",
            "30 km a week",
            "Max's right knee flares up on downhills",
        ],
        count=3,
    ),
    Case("duplicates removed", [user("I'm vegan."), user("I'm vegan")], ["Max is vegan"]),
    # -- small talk between friends (LoCoMo-style chat)
    Case("social reactions", [user("Sorry to hear that! Great idea, Jon! Sounds great!")], []),
    Case("vocative only", [user("Hey Jon! Good to see you.")], []),
    Case("vague it-clause", [user("It'll be so much fun! That's so cool!")], []),
    Case("about the listener", [user("You should try it sometime.")], []),
    Case(
        "reaction then fact",
        [user("Wow, great idea! I lost my job as a banker last week.")],
        ["Max lost their job as a banker last week"],
    ),
    Case(
        "wanna expanded",
        [user("I wanna start a dance studio")],
        ["Max wants to start a dance studio"],
    ),
    Case("adjective fragment is no verb", [user("Cool setup! Graceful.")], []),
    Case(
        "it-clause naming a thing",
        [user("It was my first marathon")],
        ["It was Max's first marathon"],
    ),
    # -- other languages
    Case("chinese fact kept", [user("我对花生过敏。")], ["我对花生过敏。"]),
    Case("french kept verbatim", [user("J'habite à Lyon")], ["J'habite à Lyon"]),
    Case(
        "german without accents", [user("Ich wohne in Berlin")], ["Ich wohne in Berlin"], hard=True
    ),
]
