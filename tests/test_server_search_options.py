"""The server takes search's and add's retrieval options (keyword_search, rerank,
include_sources, reference_date, timestamp, message_id) and answers bad ones with 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engram.client import MemoryClient
from engram.errors import InvalidInputError
from tests.support.server_process import ServerProcess


@pytest.fixture
def client(engram_home: Path) -> Iterator[MemoryClient]:
    with ServerProcess(engram_home) as proc:
        yield MemoryClient(api_key=proc.api_key, host=proc.url, timeout=60)


def test_options_reach_the_search(client: MemoryClient) -> None:
    client.add([{"role": "user", "content": "My cat is called Zorblax", "message_id": "t-1"}],
               user_id="max", infer=False, timestamp=1683504000)  # fmt: skip
    found = client.search("zorblax in May 2023", user_id="max", include_sources=True,
                          reference_date="2023-10-01", keyword_search=True,
                          rerank=True)["results"]  # fmt: skip
    assert found[0]["memory"] == "My cat is called Zorblax"
    assert found[0]["created_at"].startswith("2023-05-08")
    assert found[0]["sources"][0]["message_id"] == "t-1"
    assert set(found[0]["score_breakdown"]) == {"semantic", "keyword", "time"}
    assert 0 <= found[0]["score"] <= 1
    plain = client.search("zorblax", user_id="max")["results"][0]
    assert "sources" not in plain and "score_breakdown" in plain
    assert client.get(found[0]["id"])["sources"][0]["text"] == "My cat is called Zorblax"
    assert client.history(found[0]["id"])[0]["sources"][0]["message_id"] == "t-1"


@pytest.mark.parametrize(("options", "field"), [({"threshold": 1.5}, "threshold"),
                                                ({"rerank": "maybe"}, "rerank"),
                                                ({"reference_date": "soon"}, "reference_date")])
def test_bad_options_are_4xx_naming_the_field(client: MemoryClient, options: dict,
                                              field: str) -> None:  # fmt: skip
    with pytest.raises(InvalidInputError) as err:
        client.search("zorblax", user_id="max", **options)
    assert err.value.field == field
