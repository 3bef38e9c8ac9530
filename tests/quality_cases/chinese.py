"""Labelled Chinese cases for the offline pipeline: extraction (third person, filler and
questions dropped, dates anchored, instructions, categories, per-message language) and search.

Protocol shared by every module in tests/quality_cases: `SET_NAME` and
`run(make_memory) -> [(case class, passed, detail)]`, where `make_memory()` returns a fresh
offline `engram.Memory` on a temporary store. Written before the extractor was tuned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from engram.demo import CUSTOM_CATEGORIES, CUSTOM_INSTRUCTIONS

SET_NAME = "chinese"

# The tutorial's own settings ("Ray", a running coach).
TUTORIAL_INSTRUCTIONS = CUSTOM_INSTRUCTIONS
TUTORIAL_CATEGORIES = CUSTOM_CATEGORIES


def _day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _today() -> date:
    return datetime.now(UTC).date()  # Memory's default clock


def _last_weekday(today: date, weekday: int) -> date:
    """上周X: the weekday of the previous calendar week (Monday-based)."""
    monday = today - timedelta(days=today.weekday() + 7)
    return monday + timedelta(days=weekday)


def _month_shift(today: date, months: int) -> str:
    index = today.year * 12 + today.month - 1 + months
    return f"{index // 12}年{index % 12 + 1}月"


@dataclass
class Extraction:
    """One `add`; every `want` must appear in some stored memory, no `avoid` in any."""

    kind: str
    messages: list[dict[str, str]] | str
    want: list[str] = field(default_factory=list)
    avoid: list[str] = field(default_factory=list)
    nothing: bool = False  # nothing may be stored
    count: int | None = None  # exact number of memories, when the split matters
    user_id: str | None = "max"
    agent_id: str | None = None
    instructions: str | None = None
    categories: list[dict[str, str]] | None = None
    category: str | None = None  # the memory holding want[0] must carry this category


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _extraction_cases() -> list[Extraction]:
    today = _today()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    e = Extraction
    return [
        # third person, about the subject
        e("third_person", _user("我最近开始练瑜伽"), ["Max最近开始练瑜伽"], ["我"], count=1),
        e("third_person", _user("我右膝盖下坡时会疼"), ["Max右膝盖下坡时会疼"], ["我"]),
        e("third_person", _user("我对花生过敏"), ["Max对花生过敏"], ["我"]),
        e("third_person", _user("我现在用佳明的手表记录训练"), ["Max现在用佳明的手表记录训练"]),
        e("third_person", _user("我女儿在学游泳"), ["女儿在学游泳", "Max"], ["我"]),
        e("third_person", _user("最近在准备波士顿马拉松"), ["Max最近在准备波士顿马拉松"]),
        e("third_person", _user("我最近开始练瑜伽"), ["用户最近开始练瑜伽"], ["Max", "我"],
          user_id="u_81f3c"),
        e("third_person", _user("我的目标是跑进三小时"), ["Max的目标是跑进三小时"], ["我"]),
        e("third_person", _user("我们全家都喜欢爬山"), ["Max", "喜欢爬山"], ["我"]),
        # filler and chatter store nothing
        e("filler", _user("嗯嗯好的"), nothing=True),
        e("filler", _user("哈哈好的谢谢"), nothing=True),
        e("filler", _user("好的，明白了，谢谢！"), nothing=True),
        e("filler", _user("收到"), nothing=True),
        e("filler", _user("早上好"), nothing=True),
        e("filler", _user("太好了！"), nothing=True),
        e("filler", _user("你说得对"), nothing=True),
        e("filler", _user("哈哈，我终于跑进了50分钟的10公里！"),
          ["Max终于跑进了50分钟的10公里"], ["哈哈"]),
        e("filler", _user("嗯，我最近睡眠不太好"), ["Max最近睡眠不太好"], ["嗯"]),
        # questions and requests to the assistant store nothing
        e("question", _user("你觉得呢？"), nothing=True),
        e("question", _user("你能帮我制定一个训练计划吗？"), nothing=True),
        e("question", _user("请给我推荐一双跑鞋"), nothing=True),
        e("question", _user("马拉松配速应该怎么控制？"), nothing=True),
        e("question", _user("我应该每周跑几次？"), nothing=True),
        e("question", _user("嘿，我想在4小时内跑完马拉松，你觉得我能行吗？"),
          ["Max想在4小时内跑完马拉松"], ["你觉得", "吗", "嘿"]),
        e("question", _user("我每周跑四次，你觉得够吗？"), ["Max每周跑四次"], ["够", "你觉得"]),
        # clauses
        e("clauses", _user("我在上海做会计，我老婆是小学老师。"),
          ["Max在上海做会计", "老婆是小学老师"], ["我"], count=2),
        e("clauses", _user("我养了一只猫，叫小白。"), ["Max养了一只猫", "小白"], ["Max叫小白"]),
        e("clauses", _user("我不吃肉，但是我老婆是无肉不欢的那种人。"),
          ["Max不吃肉", "老婆是无肉不欢"], ["我"], count=2),
        e("clauses", _user("我喜欢在早上跑步，不喜欢晚上跑"),
          ["Max喜欢在早上跑步", "不喜欢晚上跑"], ["我"]),
        e("clauses", _user("我在北京工作。我每天骑车上班。"),
          ["Max在北京工作", "Max每天骑车上班"], count=2),
        # relative dates anchored to the day they were said
        e("dates", _user("我昨天跑了15公里"), ["Max昨天", _day(yesterday), "跑了15公里"]),
        e("dates", _user("上周六我参加了半程马拉松"),
          [_day(_last_weekday(today, 5)), "半程马拉松", "Max"], ["我"]),
        e("dates", _user("下个月我要去成都出差"), [_month_shift(today, 1), "成都", "Max"]),
        e("dates", _user("去年我跑了第一个全马"), [f"{today.year - 1}年", "全马", "Max"]),
        e("dates", _user("三天前我扭伤了左脚踝"),
          [_day(today - timedelta(days=3)), "扭伤了左脚踝", "Max"]),
        e("dates", _user("明天我要做间歇跑"), [_day(tomorrow), "间歇跑"]),
        # conversations, personas, instructions, other languages
        e("roles", [{"role": "user", "content": "我周末一般跑长距离"},
                    {"role": "assistant", "content": "好的，长距离跑要注意补水。"}],
          ["Max周末一般跑长距离"], ["补水"]),
        e("roles", [{"role": "system", "content": "给Max直接的数据反馈，不要说鼓励的话。"}],
          ["数据反馈"], user_id=None, agent_id="ray"),
        e("instructions", _user("我右膝盖下坡时会疼"), ["Max右膝盖下坡时会疼"],
          instructions=TUTORIAL_INSTRUCTIONS),
        e("instructions", _user("我更喜欢在土路上跑，不喜欢公路"), ["Max更喜欢在土路上跑"],
          instructions=TUTORIAL_INSTRUCTIONS),
        e("instructions", _user("哈哈哈好的"), nothing=True, instructions=TUTORIAL_INSTRUCTIONS),
        e("instructions", _user("我的目标是明年春天跑进三小时"), ["跑进三小时"],
          instructions=TUTORIAL_INSTRUCTIONS),
        e("languages", [{"role": "user", "content": "I prefer trail running over roads"},
                        {"role": "user", "content": "我最近开始练瑜伽"}],
          ["Max prefers trail running over roads", "Max最近开始练瑜伽"]),
        e("languages", _user("最近ヨガを始めました"), ["ヨガを始めました"]),
        # categories: the tutorial's three and the defaults
        e("categories", _user("我右膝盖下坡时会疼"), ["右膝盖"],
          categories=TUTORIAL_CATEGORIES, category="constraints"),
        e("categories", _user("我想在4小时内跑完马拉松"), ["马拉松"],
          categories=TUTORIAL_CATEGORIES, category="goals"),
        e("categories", _user("我更喜欢在土路上跑"), ["土路"],
          categories=TUTORIAL_CATEGORIES, category="preferences"),
        e("categories", _user("我对花生过敏"), ["花生"], category="health"),
        e("categories", _user("我在上海做会计"), ["会计"], category="professional_details"),
    ]


# Memories for the search cases, said by Max one message at a time.
SEARCH_FACTS = [
    "我在杭州做会计",
    "我右膝盖下坡时会疼",
    "我对花生过敏",
    "我不吃肉",
    "我养了一只猫",
    "我的目标是跑进三小时的全马",
    "我用佳明手表记录训练",
    "我喜欢早上跑步",
    "我女儿在学游泳",
    "我每周跑四次",
    "我周末会去西湖边骑车",
    "我以前踢过足球",
    "我老婆是小学老师",
    "我每天早上喝两杯咖啡",
    "我的半马最好成绩是1小时45分",
    "我左脚踝去年扭伤过",
    "我不喜欢在跑步机上跑",
    "我计划明年去日本旅行",
    "我晚上经常失眠",
]

# (query, a word the best result must contain)
SEARCH_CASES = [
    ("他的膝盖有什么问题？", "膝盖"),
    ("他吃肉吗", "不吃肉"),
    ("他的马拉松目标是多少", "三小时"),
    ("他住在哪个城市", "杭州"),
    ("他做什么工作", "会计"),
    ("他有宠物吗", "猫"),
    ("他用什么设备记录训练", "佳明"),
    ("他对什么东西过敏", "花生"),
    ("他一般什么时候跑步", "早上"),
    ("他的孩子在学什么", "女儿"),
    ("他一周跑几次", "每周跑四次"),
    ("饮食上有什么限制", "花生"),
    ("他妻子做什么工作", "老师"),
    ("他喝咖啡吗", "咖啡"),
    ("他的半马成绩怎么样", "1小时45分"),
    ("他的脚踝受过伤吗", "脚踝"),
    ("他不喜欢在哪里跑步", "跑步机"),
    ("他有什么旅行计划", "日本"),
    ("他睡得好吗", "失眠"),
    ("他会踢球吗", "足球"),
]
# English queries over Chinese memories (an app may search in English)
CROSS_LINGUAL_CASES = [
    ("knee pain", "膝盖"),
    ("food allergy", "花生"),
]


def _check_extraction(memory: Any, i: int, case: Extraction) -> tuple[bool, str]:
    if case.instructions or case.categories:
        memory.project.update(
            custom_instructions=case.instructions, custom_categories=case.categories
        )
    scope = {k: v for k, v in (("user_id", case.user_id), ("agent_id", case.agent_id)) if v}
    scope["run_id"] = f"case-{i}"
    memory.add(case.messages, **scope)
    rows = memory.get_all(filters={"AND": [{k: v} for k, v in scope.items()]})["results"]
    if case.instructions or case.categories:
        memory.project.update(custom_instructions="", custom_categories=[])
    texts = [r["memory"] for r in rows]
    detail = f"{case.messages!r} -> {texts!r}"
    if case.nothing:
        return not texts, detail
    missing = [w for w in case.want if not any(w in t for t in texts)]
    unwanted = [w for w in case.avoid if any(w in t for t in texts)]
    ok = not missing and not unwanted and (case.count is None or len(texts) == case.count)
    if ok and case.category:
        holder = next(r for r in rows if case.want[0] in r["memory"])
        ok = case.category in (holder.get("categories") or [])
        detail += f" categories={holder.get('categories')}"
    return ok, detail


def _search_results(make_memory: Callable[[], Any]) -> list[tuple[str, bool, str]]:
    memory = make_memory()
    for text in SEARCH_FACTS:
        memory.add(text, user_id="max", run_id="search")
    out = []
    cases = [("search", *c) for c in SEARCH_CASES]
    cases += [("search_cross_lingual", *c) for c in CROSS_LINGUAL_CASES]
    for kind, query, expected in cases:
        hits = memory.search(query, filters={"AND": [{"user_id": "max"}, {"run_id": "search"}]},
                             limit=3)["results"]
        top = hits[0]["memory"] if hits else ""
        out.append((kind, expected in top, f"{query} -> {[h['memory'] for h in hits]}"))
    return out


def run(make_memory: Callable[[], Any]) -> list[tuple[str, bool, str]]:
    memory = make_memory()
    results = []
    for i, case in enumerate(_extraction_cases()):
        try:
            ok, detail = _check_extraction(memory, i, case)
        except Exception as exc:  # a crash is a wrong answer for this case, not for the set
            ok, detail = False, f"{case.messages!r} raised {exc!r}"
        results.append((case.kind, ok, detail))
    return results + _search_results(make_memory)
