"""Each message's language picks its extraction rules; scripts decide, offline."""

from __future__ import annotations

import pytest

from engram.extraction.language import detect


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("我最近开始练瑜伽", "zh"),
        ("我用Garmin记录10km的训练", "zh"),  # brands and units inside Chinese
        ("嗯嗯好的", "zh"),
        ("I prefer trail running over roads", "en"),
        ("10x400m intervals", "en"),
        ("Max: 我今天跑了10公里", "zh"),
        ("最近ヨガを始めました", "ja"),  # kana beats the Han characters Japanese also uses
        ("요즘 요가를 시작했어요", "ko"),
        ("Я начал заниматься йогой", "ru"),
        ("J'ai commencé le yoga récemment", "und"),  # Latin, but not English
        ("", "und"),
        ("12:30 !!", "und"),
    ],
)
def test_detect(text: str, code: str) -> None:
    assert detect(text) == code
