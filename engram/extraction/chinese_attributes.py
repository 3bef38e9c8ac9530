"""Attribute slots of a Chinese fact, so reconciliation by meaning works for Chinese users too.

The English reader (engram.extraction.attributes) works on words; Chinese has none, so this
reader matches short patterns on the fact as the Chinese extractor writes it ("Max每周跑三次",
"Max的老婆住在杭州") and fills the same `Reading`: who holds the fact, which slot it sets
(residence, diet, job, gear, frequency and time of day per activity, body part, likes), the
value, and whether it announces a change or an ending. The reconciler then compares two
readings exactly as it compares English ones.
"""

from __future__ import annotations

import re

from engram.extraction.attributes import Attribute, Reading

# Relatives and others whose facts never change the user's own ("Max的姐姐住在北京").
_OTHERS = ("老婆|妻子|太太|老公|丈夫|男朋友|女朋友|对象|儿子|女儿|孩子|爸爸|父亲|妈妈|母亲|"
           "哥哥|姐姐|弟弟|妹妹|朋友|同事|教练|室友|邻居|狗|猫")  # fmt: skip
_HOLDER = re.compile(rf"^(?:.{{0,12}}?)的({_OTHERS})")
_CHANGE = re.compile(r"现在|改成|改为|换成|换到|改用|开始|不再|已经|又|新|搬到|搬去|转到|以后")
_NEGATION = re.compile(r"不再|不|没有|没|戒|别")
_ENDED = re.compile(
    r"戒了|戒掉|不再|放弃了|停了|好了|痊愈|康复|恢复了|不疼了|不痛了|卖了|辞职|退休"
)

_ACTIVITIES = {
    "跑": "run", "慢跑": "run", "马拉松": "run", "游泳": "swim", "游": "swim", "骑": "cycle",
    "瑜伽": "yoga", "健身": "gym", "撸铁": "gym", "力量": "gym", "练": "train", "训练": "train",
    "走路": "walk", "散步": "walk", "爬山": "hike", "徒步": "hike",
}  # fmt: skip
_ACTIVITY = re.compile("|".join(sorted(_ACTIVITIES, key=len, reverse=True)))
_TIMES = {
    "清晨": "morning", "早上": "morning", "早晨": "morning", "上午": "morning", "中午": "noon",
    "午休": "noon", "午饭": "noon", "下午": "afternoon", "傍晚": "evening", "晚上": "evening",
    "晚饭后": "evening", "夜里": "night", "深夜": "night", "下班后": "evening",
}  # fmt: skip
_TIME = re.compile("|".join(sorted(_TIMES, key=len, reverse=True)))
_NUMERAL = "0-9零一二两三四五六七八九十百千半"
_FREQUENCY = re.compile(  # 每周跑三次: per week, a count (and its unit)
    rf"每(周|星期|天|日|月|年)[^{_NUMERAL}，。]{{0,6}}?([{_NUMERAL}]+)\s*(次|天|趟|回|公里|km|小时)"
)
_RESIDENCE = re.compile(
    r"(?:住在|住|搬到了?|搬去了?|定居在?|生活在)([^\s，。,的]{1,8}?)(?:了|市|$|，|。|,)"
)
_JOB = re.compile(
    r"(?:在|去)([^\s，。,]{1,10}?)(?:工作|上班|实习)"  # 在一家银行工作
    r"|(?:当|做|是一名|是个|是)([^\s，。,]{1,6}?(?:师|员|生|医生|护士|经理|老板|司机|厨师))"
)
_GEAR = re.compile(  # a brand in Latin letters, or a thing named by its kind
    r"(?:用|穿|戴|换成|改用|换了)([A-Za-z][A-Za-z0-9 \-]{1,20}|[^\s，。,]{1,6}?(?:鞋|表|耳机))"
)
_DIET_MINUS = re.compile(r"吃素|素食|纯素|不吃肉|不再吃肉|戒肉|不吃荤")
_DIET_PLUS = re.compile(r"(?:开始|又|重新)?吃(?:肉|鱼|鸡|荤|海鲜|牛肉|猪肉)")
_BODY = re.compile(r"(膝盖|脚踝|脚|腿|腰|背|肩膀|肩|髋|跟腱|小腿|大腿|手腕|脖子|足底)")
_LIKE = re.compile(r"(不喜欢|讨厌|受不了|不爱|喜欢|爱|热爱|偏爱)([^\s，。,]{1,10})")


def read_chinese(text: str, subject: str | None = None) -> Reading:
    """The holder and attribute slots of a third-person Chinese fact."""
    other = _HOLDER.search(text)
    holder = other.group(1) if other else "self"
    negated = bool(_NEGATION.search(text))
    ended = frozenset(m.group(0) for m in _ENDED.finditer(text))
    attrs: dict[str, Attribute] = {}
    for attribute in _slots(text, negated):
        attrs.setdefault(attribute.slot, attribute)
    return Reading(
        holder=holder,
        attributes=attrs,
        change=bool(_CHANGE.search(text)) or negated,
        negated=negated or bool(ended),
        ends=frozenset(),  # an ending is read as a negative slot value below
        stems=frozenset(re.findall(r"[\u4e00-\u9fff]", text)),
    )


def _slots(text: str, negated: bool) -> list[Attribute]:
    polarity = -1 if _ENDED.search(text) else 1
    found: list[Attribute] = []
    activity = _ACTIVITY.search(text)
    kind = _ACTIVITIES[activity.group(0)] if activity else "activity"
    if m := _FREQUENCY.search(text):
        found.append(Attribute(f"often:{kind}", frozenset({m.group(1) + m.group(2) + m.group(3)})))
    if (m := _TIME.search(text)) and activity:
        found.append(Attribute(f"when:{kind}", frozenset({_TIMES[m.group(0)]})))
    if m := _RESIDENCE.search(text):
        found.append(Attribute("residence", _value(m.group(1))))
    if _DIET_MINUS.search(text):
        found.append(Attribute("diet", frozenset({"meat-"})))
    elif m := _DIET_PLUS.search(text):
        found.append(Attribute("diet", frozenset({"meat+"})))
    if m := _JOB.search(text):
        found.append(Attribute("job", _value(m.group(1) or m.group(2)), polarity))
    if m := _GEAR.search(text):
        kind = _gear_kind(m.group(1) + text[m.end() : m.end() + 3])  # "Garmin手表": a watch
        found.append(Attribute(f"gear:{kind}", _value(m.group(1))))
    if m := _BODY.search(text):
        found.append(Attribute(f"body:{m.group(1)}", frozenset({"hurt"}), polarity))
    if m := _LIKE.search(text):
        sign = -1 if m.group(1) in {"不喜欢", "讨厌", "受不了", "不爱"} else 1
        found.append(Attribute(f"like:{min(_value(m.group(2)))}", frozenset({"like"}), sign))
    return found


def _value(raw: str) -> frozenset[str]:
    """"在谷歌" and "谷歌", "跑山路了" and "跑山路" are one value."""
    return frozenset({raw.strip().removeprefix("在").rstrip("了的啊呢")})


def _gear_kind(words: str) -> str:
    if "鞋" in words:
        return "shoes"
    if "表" in words:
        return "watch"
    if "耳机" in words:
        return "headphones"
    return "app"
