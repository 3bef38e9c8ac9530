"""Chinese pairs of user messages, judged as in reconcile_pairs: a changed attribute
updates or supersedes the old memory, different things stay side by side, a restatement
adds nothing. Written before the Chinese attribute reader was tuned."""

from __future__ import annotations

from tests.quality_cases.reconcile_pairs import judge_pairs
from tests.quality_cases.support import MakeMemory, Result

SET_NAME = "chinese_pairs"

CHANGE = [
    ("我每周跑三次", "我现在每周跑五次", "frequency"),
    ("我住在上海", "我搬到北京了", "residence"),
    ("我的目标是跑进4小时", "我的目标改成3小时45分", "goal"),
    ("我早上跑步", "我现在改成晚上跑步", "time of day"),
    ("我吃素", "我又开始吃鱼了", "diet"),
    ("我每天吃肉", "我从上个月开始吃素了", "diet"),
    ("我在一家银行工作", "我换工作了，现在在一家创业公司上班", "job"),
    ("我住在杭州", "我上周搬去深圳了", "residence"),
    ("我每天游泳一次", "我现在每天游泳两次", "frequency"),
    ("我的膝盖疼", "我的膝盖已经好了", "body"),
    ("我用Strava记录跑步", "我改用Garmin Connect记录跑步了", "app"),
    ("我穿亚瑟士跑鞋", "我换成耐克跑鞋了", "shoes"),
    ("我晚上练瑜伽", "我现在早上练瑜伽", "time of day"),
    ("我喜欢跑山路", "我现在不喜欢跑山路了", "preference"),
]
KEEP = [
    ("我住在上海", "我姐姐住在北京", "residence of someone else"),
    ("我每周跑三次", "我每周游泳两次", "another activity"),
    ("我的膝盖疼", "我喜欢跑山路", "another attribute"),
    ("我喜欢跑山路", "我喜欢游泳", "another like"),
    ("我用Garmin手表", "我用Strava记录跑步", "watch and app"),
    ("我在一家银行工作", "我老婆在医院工作", "job of someone else"),
    ("我早上跑步", "我晚上练瑜伽", "another activity"),
    ("我吃素", "我住在成都", "another attribute"),
]
SAME = [
    ("我每周跑三次", "我每周跑三次", "exact"),
    ("我住在上海", "我现在还是住在上海", "restated"),
    ("我吃素", "我是吃素的", "restated"),
    ("我在一家银行工作", "我还在那家银行工作", "restated"),
]


def run(make_memory: MakeMemory) -> list[Result]:
    return judge_pairs(make_memory, (("change", CHANGE), ("keep", KEEP), ("same", SAME)))
