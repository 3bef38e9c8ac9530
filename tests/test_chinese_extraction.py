"""Offline extraction of Chinese messages: third person, no filler or questions, clauses,
anchored dates; other languages without rules are stored as said."""

from __future__ import annotations

from datetime import date

import pytest

from engram.extraction.chinese import ChineseExtractor, anchor_dates, gloss
from engram.memory import Memory

TODAY = date(2026, 3, 4)  # a Wednesday


def facts(text: str, subject: str | None = "Max", role: str = "user") -> list[str]:
    return ChineseExtractor().extract([{"role": role, "content": text}], subject=subject,
                                      today=TODAY)  # fmt: skip


@pytest.mark.parametrize(
    ("said", "stored"),
    [
        ("我最近开始练瑜伽", ["Max最近开始练瑜伽"]),
        ("嗯嗯好的", []),
        ("你觉得呢？", []),
        ("哈哈好的谢谢", []),
        ("嘿，我想在4小时内跑完马拉松，你觉得我能行吗？", ["Max想在4小时内跑完马拉松"]),
        ("我右膝盖下坡时会疼", ["Max右膝盖下坡时会疼"]),
        ("我在上海做会计，我老婆是小学老师。", ["Max在上海做会计", "Max的老婆是小学老师"]),
        ("我养了一只猫，叫小白。", ["Max养了一只猫，叫小白"]),
        ("我和我老婆每周末去爬山", ["Max和老婆每周末去爬山"]),
        ("请帮我制定一个训练计划", []),
        ("我应该每周跑几次？", []),
        ("教练让我多休息", ["教练让Max多休息"]),
        ("小李也在练马拉松", ["小李也在练马拉松"]),
    ],
)
def test_user_facts(said: str, stored: list[str]) -> None:
    assert facts(said) == stored


def test_no_name_means_the_user() -> None:
    assert facts("我最近开始练瑜伽", subject=None) == ["用户最近开始练瑜伽"]


def test_system_message_is_a_persona_kept_whole() -> None:
    assert facts("给Max直接的数据反馈，不要说鼓励的话。好的。", role="system") == [
        "给Max直接的数据反馈，不要说鼓励的话"
    ]


@pytest.mark.parametrize(
    ("said", "anchored"),
    [
        ("Max昨天跑了15公里", "Max昨天（2026年3月3日）跑了15公里"),
        ("上周六Max参加了半马", "上周六（2026年2月28日）Max参加了半马"),
        ("Max下个月去成都", "Max下个月（2026年4月）去成都"),
        ("Max去年跑了全马", "Max去年（2025年）跑了全马"),
        ("三天前Max扭伤了脚踝", "三天前（2026年3月1日）Max扭伤了脚踝"),
        ("Max两个月前换了工作", "Max两个月前（2026年1月）换了工作"),
        ("这周末Max休息", "这周末（2026年3月7日那个周末）Max休息"),
        ("Max周末一般跑长距离", "Max周末一般跑长距离"),  # a habit, not a date
    ],
)
def test_relative_dates_are_anchored(said: str, anchored: str) -> None:
    assert anchor_dates(said, TODAY) == anchored
    assert anchor_dates(anchored, TODAY) == anchored  # once


def test_gloss_names_what_a_fact_is_about() -> None:
    assert "knee" in gloss("Max右膝盖下坡时会疼") and "pain" in gloss("Max右膝盖下坡时会疼")
    assert gloss("Max") == ""


def test_memory_add_dispatches_per_message(tmp_path) -> None:
    with Memory({"database": str(tmp_path / "e.db")}) as m:
        m.add([{"role": "user", "content": "I prefer trail running over roads"},
               {"role": "user", "content": "我最近开始练瑜伽"},
               {"role": "user", "content": "嗯嗯好的"},
               {"role": "user", "content": "最近ヨガを始めました"}], user_id="max")  # fmt: skip
        stored = sorted(r["memory"] for r in m.get_all(user_id="max")["results"])
    assert stored == ["Max prefers trail running over roads", "Max最近开始练瑜伽",
                      "最近ヨガを始めました"]  # fmt: skip


def test_distinct_chinese_facts_are_all_kept(tmp_path) -> None:
    with Memory({"database": str(tmp_path / "e.db")}) as m:
        for said in ("我对花生过敏", "我养了一只猫", "我在杭州工作"):
            m.add(said, user_id="max")
        assert len(m.get_all(user_id="max")["results"]) == 3
