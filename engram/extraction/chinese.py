"""Offline fact extraction for Chinese messages, on jieba's segmentation.

Per user message: sentences (。！？；) -> clauses (，) -> drop filler, questions, requests and
remarks about the listener -> rejoin a clause that has no subject of its own with the one
before it ("我养了一只猫，叫小白" stays one fact) -> first person becomes the subject's name
("我最近开始练瑜伽" -> "Max最近开始练瑜伽"; no name -> "用户") -> relative dates are anchored
("昨天" -> "昨天（2026年11月30日）"). System messages are persona facts kept sentence by
sentence; assistant turns yield nothing, as in the English extractor.

`gloss` gives a fact's English key words, so that the category tagger and the custom
instruction filter, whose descriptions are usually English, can judge a Chinese fact even
with an English-only embedder. See docs/chinese.md.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from engram.extraction.dates import _shift_months
from engram.lexical import jieba

DEFAULT_SUBJECT = "用户"

_SENTENCE = re.compile(r"(?<=[。！？!?；;…])|\n")
_CLAUSE = re.compile(r"[，,]")
_PUNCT = "。！？!?；;…，,、：:~～ 　\t.\"'“”‘’（）()【】[]《》—-"
_QUESTION_MARK = re.compile(r"[?？]\s*$")

# -- filler -------------------------------------------------------------------------------

# Whole clauses made only of these say nothing worth keeping ("嗯嗯好的", "好的，谢谢！").
_FILLER_WORDS = sorted(
    """
    嗯 嗯嗯 嗯呢 哦 噢 喔 啊 呀 哇 诶 欸 哎 唉 嘿 嗨 哈 呵 嘻 哼 哟 咦 噗 额 呃
    好 好的 好滴 好吧 好嘞 好啊 行 行吧 行啊 对 对的 对啊 对呀 是的 是啊 没错 当然 确实
    ok okay OK Ok lol
    谢谢 谢啦 谢了 多谢 感谢 谢谢你 谢谢您 不客气 不用谢 没事 没关系 没问题 辛苦了 麻烦了
    收到 明白 明白了 知道了 了解 了解了 懂了 清楚了 可以 可以的 好主意 有道理 说得对 原来如此
    太好了 太棒了 真棒 真好 真不错 不错 很好 厉害 好厉害 牛 酷 赞 棒 加油 好耶 哈哈哈
    早 早安 早上好 上午好 中午好 下午好 晚上好 晚安 你好 您好 大家好 哈喽 嗨喽
    再见 拜拜 回头见 明天见 下次聊 先这样 就这样 回见 bye
    了 啦 呢 吧 嘛 哈 的 咯 喽 噢噢 哦哦
    """.split(),
    key=len,
    reverse=True,
)
_ALL_FILLER = re.compile(
    "(?:" + "|".join(map(re.escape, _FILLER_WORDS)) + r"|[\W_\d]|[\U0001F000-\U0001FAFF])*",
    re.IGNORECASE,
)
# Openers dropped before a clause's content ("嘿，我想…", "哈哈，我终于…", "对了，我…").
_OPENERS = re.compile(
    r"^(?:(?:嗯+|哦+|噢+|啊+|嘿+|哈+|呵+|哇+|诶|欸|哎呀|哎|唉|对了|话说|顺便说一下|顺便说一句|"
    r"跟你说|我跟你说|告诉你|自我介绍一下|说实话|老实说|其实吧|好的|好吧|ok|OK)[\s，,、！!。.~～]*)+"
)
_TRAILING_PARTICLES = re.compile(r"(?:啦|呀|哦|噢|哈|嘛|哟|咯|喽|啊)+$")

# -- questions, requests, remarks to the listener ---------------------------------------

_QUESTION_END = re.compile(r"(?:吗|么|嘛|呢)[\W_]*$")
_A_NOT_A = re.compile(
    r"(是不是|能不能|要不要|会不会|可不可以|有没有|好不好|行不行|对不对|该不该|用不用)"
)
_INTERROGATIVE = re.compile(r"(什么|怎么|怎样|为什么|为何|哪|几|多少|如何|是否|能否)")
_REQUEST = re.compile(
    r"^(?:请|请问|麻烦|帮我|帮忙|给我|替我|告诉我|推荐|求推荐|能帮|能不能帮|可以帮|可不可以帮)"
)
_LISTENER = re.compile(r"^(?:你|您|你们)")
# A clause that starts a fact of its own drops its link word ("但是我老婆…" -> "我老婆…").
_CONJUNCTION = re.compile(r"^(?:但是|可是|不过|而且|并且|然后|所以|因为|因此|另外|还有|而|但|并)")

# -- subjects -----------------------------------------------------------------------------

_FIRST_PERSON = frozenset({"我", "俺", "咱", "本人"})
_FIRST_PLURAL = frozenset({"我们", "咱们", "俺们"})
_HOUSEHOLD = frozenset({"全家", "一家", "家", "一家人"})  # "我们全家" -> "Max全家"
_THIRD_PARTY = re.compile(
    r"^(?:他|她|它|他们|她们|它们|这|那|这个|那个|这些|那些|这样|那样|大家|别人)"
)
# People and pets "my X" names; "我老婆" reads better as "Max的老婆".
_KIN = frozenset(
    """
    老婆 老公 妻子 丈夫 太太 先生 爱人 媳妇 对象 男朋友 女朋友 男友 女友 未婚妻 未婚夫
    妈 妈妈 母亲 爸 爸爸 父亲 父母 爸妈 儿子 女儿 孩子 小孩 宝宝 儿女 哥 哥哥 姐 姐姐 弟弟
    妹妹 爷爷 奶奶 外公 外婆 姥姥 姥爷 家人 家里人 朋友 同事 老板 领导 同学 室友 邻居 教练
    队友 猫 狗 狗狗 猫咪 宠物
    """.split()
)
# Words after which an implied "I" is the subject ("最近在准备波士顿马拉松").
_SUBJECTLESS_STARTS = re.compile(
    r"^(?:刚刚|刚|已经|正在|在|还|也|都|又|再|才|就|终于|一直|经常|总是|常常|偶尔|每天|每周|"
    r"每个月|每月|每晚|每年|平时|一般|通常|现在|最近|以前|之前|后来|今年|打算|准备|想|要|会|"
    r"能|可以|喜欢|更喜欢|讨厌|不|没|没有|很|比较|特别|对|跟|和|用|去|来|从|开始|不再|"
    r"戒了|戒|吃|喝|跑|练|住|做|当|是|有|养|学|买|换|搬|参加|报名|完成|觉得|感觉|希望|计划)"
)
_IMPERSONAL = frozenset({"天气", "外面", "今天天气", "这里", "那里", "路上", "时间"})
_TIME_WORDS = re.compile(
    r"^(?:(?:今天|昨天|前天|明天|后天|今早|今晚|昨晚|明早|明晚|早上|上午|中午|下午|晚上|"
    r"刚才|现在|最近|平时|周末|上周[一二三四五六日天]?|下周[一二三四五六日天]?|这周[一二三四五六日天]?|"
    r"上个月|下个月|这个月|去年|今年|明年|前年)[（(][^）)]*[）)]?|今天|昨天|前天|明天|后天|今早|"
    r"今晚|昨晚|明早|明晚|早上|上午|中午|下午|晚上|刚才|现在|最近|平时|周末)"
)


class ChineseExtractor:
    """Implements the splitter half of `Extractor` for Chinese text; no model but jieba's."""

    def extract(
        self, messages: list[dict[str, str]], *, subject: str | None, today: date
    ) -> list[str]:
        facts: list[str] = []
        for message in messages:
            content = (message.get("content") or "").strip()
            role = message.get("role", "user")
            if not content or role == "assistant":
                continue
            if role == "system":
                facts.extend(_persona_facts(content))
            else:
                facts.extend(_user_facts(content, subject or DEFAULT_SUBJECT))
        return [anchor_dates(fact, today) for fact in _dedupe(facts)]


def _persona_facts(content: str) -> list[str]:
    sentences = (s.strip(" \t") for s in _SENTENCE.split(content))
    return [_trim(s) for s in sentences if s.strip() and not is_filler(s)]


def _user_facts(content: str, name: str) -> list[str]:
    facts: list[str] = []
    for sentence in _SENTENCE.split(content):
        asked = bool(_QUESTION_MARK.search(sentence))
        clauses = [c.strip() for c in _CLAUSE.split(sentence.strip())]
        clauses = [c for c in clauses if c.strip(_PUNCT)]
        kept: list[str] = []
        for i, clause in enumerate(clauses):
            clause = _strip_openers(clause)
            last = i == len(clauses) - 1
            if not clause or is_filler(clause) or _is_question(clause, asked and last):
                continue
            if _is_request(clause) or _LISTENER.match(clause):
                continue
            bare = _CONJUNCTION.sub("", clause) or clause
            if kept and not _has_own_subject(bare):
                kept[-1] = f"{kept[-1]}，{clause}"  # "…，叫小白": the same fact goes on
            else:
                kept.append(bare)
        facts.extend(f for f in (_third_person(c, name) for c in kept) if f)
    return facts


def _strip_openers(clause: str) -> str:
    clause = _OPENERS.sub("", clause.strip(_PUNCT)).strip(_PUNCT)
    return _TRAILING_PARTICLES.sub("", clause).strip(_PUNCT)


def is_filler(text: str) -> bool:
    """True when `text` holds nothing but chat filler, interjections and punctuation."""
    return bool(_ALL_FILLER.fullmatch(text.strip()))


def _is_question(clause: str, asked: bool) -> bool:
    if asked or _QUESTION_END.search(clause) or _A_NOT_A.search(clause):
        return True
    return bool(_INTERROGATIVE.search(clause) and re.search(r"你|您", clause))


def _is_request(clause: str) -> bool:
    return bool(_REQUEST.match(clause))


def _has_own_subject(clause: str) -> bool:
    words = _words(_TIME_WORDS.sub("", clause) or clause)
    if not words:
        return False
    first = words[0]
    return (
        first in _FIRST_PERSON
        or first in _FIRST_PLURAL
        or bool(_THIRD_PARTY.match(first))
        or first in _KIN
    )


# -- third person ---------------------------------------------------------------------


def _third_person(clause: str, name: str) -> str:
    words = _words(clause)
    if not any(w in _FIRST_PERSON or w in _FIRST_PLURAL for w in words):
        return _implied_subject(clause, name)
    out: list[str] = []
    named = False
    for i, word in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word in _FIRST_PLURAL:
            out.append(name if nxt in _HOUSEHOLD else name + "他们")  # "我们" -> "Max他们"
            named = True
        elif word in _FIRST_PERSON:
            if nxt in _KIN:
                out.append("" if named else name + "的")  # "我和我老婆" -> "Max和老婆"
            elif nxt == "的" and named:
                out.append("自己")
            else:
                out.append(name)
            named = True
        else:
            out.append(word)
    return _trim("".join(out))


def _implied_subject(clause: str, name: str) -> str:
    """A clause without "我" is still about the speaker when it opens like a predicate."""
    rest = _TIME_WORDS.sub("", clause).lstrip(_PUNCT) or clause
    words = _words(rest)
    if not words:
        return ""
    first = words[0]
    if _THIRD_PARTY.match(first) or first in _KIN or first in _IMPERSONAL:
        return _trim(clause) if len(clause) > 6 else ""  # "这个不错" is a reaction
    if _SUBJECTLESS_STARTS.match(rest) or _starts_with_predicate(rest):
        return name + _trim(clause)
    return _trim(clause)


def _starts_with_predicate(text: str) -> bool:
    pairs = _tagged(text)
    if not pairs:
        return False
    flag = pairs[0][1]
    if flag in {"nr", "ns", "nt", "nrt", "nz"} and len(pairs) > 1 and pairs[1][1][:1] in "dvp":
        return False  # "小李也在练马拉松": someone else
    # A body part, a number or an attribute noun ("右膝盖…", "体重75公斤") is the user's too.
    return flag[:1] in {"v", "d", "a", "p", "m", "r", "t", "f", "n"}


def _trim(text: str) -> str:
    return text.strip(_PUNCT + "，")


# -- jieba --------------------------------------------------------------------------------



# jieba's dictionary glues "我" to a following verb ("我养", "我要"); split it off again,
# but not from words where it is no pronoun ("自我", "我国").
_GLUED_I = re.compile(r"(我们|咱们|俺们|我)")
_NOT_PRONOUN = frozenset({"自我", "忘我", "唯我", "我国", "我方", "我校", "我司", "我院", "我军"})


def _words(text: str) -> list[str]:
    out: list[str] = []
    for word in jieba().lcut(text):
        if not word.strip():
            continue
        glued = word.startswith("我") or word.endswith("我")
        if glued and len(word) > 1 and word[:2] not in _NOT_PRONOUN and word[-2:] not in (
            _NOT_PRONOUN | _FIRST_PLURAL
        ):
            out.extend(p for p in _GLUED_I.split(word) if p)
        else:
            out.append(word)
    return out


def _tagged(text: str) -> list[tuple[str, str]]:
    jieba()  # quiet logging, dictionary loaded
    from jieba import posseg

    return [(p.word, p.flag) for p in posseg.lcut(text) if p.word.strip()]


def _dedupe(facts: list[str]) -> list[str]:
    seen: set[str] = set()
    return [f for f in facts if f and not (f in seen or seen.add(f))]


# -- relative dates -----------------------------------------------------------------------

_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
             "九": 9, "十": 10, "半": 0}  # fmt: skip
_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_DAY_WORDS = {"今天": 0, "今早": 0, "今晚": 0, "今日": 0, "昨天": -1, "昨晚": -1,
              "昨日": -1, "前天": -2, "大前天": -3, "明天": 1, "明早": 1, "明晚": 1,
              "后天": 2, "大后天": 3}  # fmt: skip
_YEAR_WORDS = {"前年": -2, "去年": -1, "今年": 0, "明年": 1, "后年": 2}
_REL = {"上": -1, "下": 1, "这": 0, "本": 0}
_DATE_PATTERN = re.compile(
    r"(?P<day>大前天|大后天|今天|今早|今晚|今日|昨天|昨晚|昨日|前天|明天|明早|明晚|后天)"
    r"|(?P<rel>上|下|这|本)个?(?P<unit>周末|周|星期|礼拜|月)(?P<wd>[一二三四五六日天])?"
    r"|(?P<year>前年|去年|今年|明年|后年)"
    r"|(?P<n>\d+|[一二两三四五六七八九十]+)(?P<agounit>天|日|周|个星期|个礼拜|星期|个月|年)(?:以前|之前|前)"
)
_ANCHORED = re.compile(r"[（(]\d{4}年")


def _day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _month(d: date) -> str:
    return f"{d.year}年{d.month}月"


def _number(raw: str) -> int:
    if raw.isdigit():
        return int(raw)
    if "十" in raw:  # 十, 十二, 二十, 二十三
        tens, _, units = raw.partition("十")
        return _NUMERALS.get(tens, 1) * 10 + _NUMERALS.get(units, 0)
    return _NUMERALS.get(raw, 1)


def _resolve(m: re.Match[str], today: date) -> str | None:
    if m["day"]:
        return _day(today + timedelta(days=_DAY_WORDS[m["day"]]))
    if m["year"]:
        return f"{today.year + _YEAR_WORDS[m['year']]}年"
    if m["rel"]:
        step = _REL[m["rel"]]
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=step)
        if m["unit"] == "月":
            return _month(_shift_months(today, step))
        if m["unit"] == "周末":
            return f"{_day(monday + timedelta(days=5))}那个周末"
        if m["wd"]:
            return _day(monday + timedelta(days=_WEEKDAY[m["wd"]]))
        return f"{_day(monday)}那一周"
    n = _number(m["n"])
    unit = m["agounit"]
    if unit in {"天", "日"}:
        return _day(today - timedelta(days=n))
    if unit == "年":
        return f"{today.year - n}年"
    if unit == "个月":
        return _month(_shift_months(today, -n))
    return f"{_day(today - timedelta(weeks=n))}那一周"


def anchor_dates(text: str, today: date) -> str:
    """Write the absolute date after each relative time word, once: "昨天（2026年11月30日）"."""
    if _ANCHORED.search(text):
        return text

    def sub(m: re.Match[str]) -> str:
        resolved = _resolve(m, today)
        return f"{m[0]}（{resolved}）" if resolved else m[0]

    return _DATE_PATTERN.sub(sub, text)


# -- English key words for the category tagger and the instruction filter ----------------

# Chinese word = English key words; one entry per "；"-separated item.
_GLOSS_TABLE = """
# goals and plans
目标=goal target; 想=wants to; 打算=plans to; 计划=plans; 希望=hopes to;
准备=preparing for; 备战=training for race; 跑进=target time; 破三=sub-3 goal;
破四=sub-4 goal; 报名=signed up for race; 比赛=race; 参加=takes part in;
# body, injuries, health
疼=pain; 痛=pain; 酸=sore; 伤=injury; 受伤=injured; 扭伤=sprained; 拉伤=strained;
骨折=fracture; 膝盖=knee; 膝=knee; 脚踝=ankle; 小腿=calf; 大腿=thigh; 腰=back; 背=back;
肩=shoulder; 脚=foot; 足底=plantar foot; 髂胫束=IT band; 过敏=allergic allergy; 生病=sick;
感冒=cold illness; 发烧=fever; 恢复=recovery; 休息=rest recovery; 康复=rehab recovery;
医生=doctor; 手术=surgery; 睡眠=sleep; 失眠=insomnia; 体重=weight; 血压=blood pressure;
心率=heart rate; 怀孕=pregnant;
# preferences and training style
喜欢=likes prefers; 更喜欢=prefers; 爱=loves; 讨厌=dislikes hates; 不喜欢=dislikes;
偏好=prefers; 习惯=usually habit; 早上=morning; 晚上=evening; 中午=noon lunch;
夜跑=night run; 晨跑=morning run; 土路=trail dirt surface; 越野=trail running;
公路=road surface; 跑道=track; 跑步机=treadmill; 山路=trail hills; 下坡=downhill;
上坡=uphill; 天气=weather; 下雨=rain; 每周=per week schedule; 每天=every day; 周末=weekend;
次=times; 长距离=long run; 间歇跑=interval training; 间歇=intervals; 配速=pace;
公里=km distance; 马拉松=marathon; 半马=half marathon; 全马=marathon; 跑步=running;
跑=runs; 瑜伽=yoga; 游泳=swimming; 骑车=cycling; 自行车=cycling; 健身=gym fitness;
力量训练=strength training; 训练=training; 爬山=hiking; 徒步=hiking; 足球=football;
篮球=basketball;
# milestones
终于=finally achieved; 完成=completed; 第一次=first time; 第一个=first;
纪录=personal record; 成绩=result time; 跑完=finished;
# food
吃=eats food; 喝=drinks; 肉=meat; 素食=vegetarian; 吃素=vegetarian; 咖啡=coffee;
酒=alcohol; 花生=peanuts; 饮食=diet; 早餐=breakfast;
# person, work, family, places
工作=job work; 上班=works commute; 公司=company job; 程序员=programmer job;
会计=accountant job; 老师=teacher job; 医生职业=doctor job; 学生=student; 老婆=wife family;
老公=husband family; 女儿=daughter family; 儿子=son family; 孩子=child family;
妈妈=mother family; 爸爸=father family; 猫=cat pet; 狗=dog pet; 住=lives; 搬=moved home;
岁=years old age; 北京=Beijing city; 上海=Shanghai city; 杭州=Hangzhou city;
出差=business trip travel; 旅行=travel trip; 旅游=travel trip;
# gear and tech
手表=watch device; 佳明=Garmin; 跑鞋=running shoes gear; 鞋=shoes gear; 手机=phone device;
软件=app software; 耳机=headphones;
"""
_GLOSS: dict[str, str] = dict(
    item.strip().split("=", 1)
    for line in _GLOSS_TABLE.splitlines()
    if not line.startswith("#")
    for item in line.split(";")
    if item.strip()
)
_GLOSS_WORDS = sorted(_GLOSS, key=len, reverse=True)


def gloss(text: str) -> str:
    """English key words of a Chinese fact, longest match first; "" when none is known."""
    found: list[str] = []
    i = 0
    while i < len(text):
        for word in _GLOSS_WORDS:
            if text.startswith(word, i):
                found.append(_GLOSS[word])
                i += len(word)
                break
        else:
            i += 1
    return ", ".join(dict.fromkeys(found))
