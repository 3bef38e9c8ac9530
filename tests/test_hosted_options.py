"""Every hosted option is honoured or refused by name, over real HTTP on SQLite and
PostgreSQL: update's expiry and timestamp, delete_all's filters as mem0ai 2.x writes them,
the project-wide wipe, add's immutable / per-request instructions and categories /
includes / excludes / output_format, the read options of search and get_all, entity
paging, the shapes of events and history, and reads as of a past instant."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from engram.client import MemoryClient
from engram.errors import InvalidInputError
from tests.support.server_process import ServerProcess


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server per backend for the module; each test starts from an empty project."""
    env = {"ENGRAM_PURGE_SECONDS": "3600"}  # expired rows stay for show_expired to read
    url = None
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_server").create_database()
        env["ENGRAM_DATABASE"] = url
    with ServerProcess(tmp_path_factory.mktemp("home"), env=env) as proc:
        yield proc
    if url:
        request.getfixturevalue("postgres_server").drop_database(url)


@pytest.fixture
def client(server: ServerProcess) -> Iterator[MemoryClient]:
    with MemoryClient(api_key=server.api_key, host=server.url, timeout=60) as c:
        c.delete_all(user_id="*", agent_id="*", app_id="*", run_id="*")
        yield c


def raw(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60,
                        headers={"Authorization": f"Token {server.api_key}"})  # fmt: skip


def day(offset: int) -> str:
    return (datetime.now(UTC) + timedelta(days=offset)).date().isoformat()


def stored(client: MemoryClient, text: str, user: str = "max", **options: object) -> str:
    return client.add(text, user_id=user, infer=False, **options)["results"][0]["id"]


def test_update_sets_expiry_and_timestamp_without_text(client: MemoryClient) -> None:
    mid = stored(client, "I run on Tuesdays")
    assert client.update(mid, expiration_date=day(30))["expiration_date"].startswith(day(30))
    said = client.update(mid, timestamp=1683504000)
    assert said["created_at"].startswith("2023-05-08") and said["memory"] == "I run on Tuesdays"
    both = client.update(mid, text="I run on Thursdays", expiration_date=day(40))
    assert both["memory"] == "I run on Thursdays" and both["expiration_date"].startswith(day(40))
    assert client.update(mid, text="I run on Fridays")["expiration_date"].startswith(day(40))
    assert client.update(mid, expiration_date=None)["expiration_date"] is None
    with pytest.raises(InvalidInputError) as bad:
        client.update(mid)
    assert bad.value.field == "text"


def test_delete_all_reads_filters_as_mem0ai_2x_writes_them(
    server: ServerProcess, client: MemoryClient
) -> None:
    stored(client, "I like tea", user="ann")
    stored(client, "I like coffee", user="bob")
    with raw(server) as http:  # httpx writes a dict parameter as str(dict), as 2.2.1 sends it
        done = http.delete("/v1/memories/", params={"filters": {"user_id": "ann"}})
        assert done.status_code == 200, done.text
        assert done.json()["deleted"] == 1
        bad = http.delete("/v1/memories/", params={"filters": "{'user_id': __import__('os')}"})
        assert bad.status_code == 400 and bad.json()["field"] == "filters"
    assert client.get_all(user_id="ann")["results"] == []
    assert len(client.get_all(user_id="bob")["results"]) == 1


def test_project_wide_wipe_deletes_everything_and_counts_it(
    server: ServerProcess, client: MemoryClient
) -> None:
    for user in ("ann", "bob", "cid"):
        stored(client, f"{user} likes tea", user=user)
    client.add("The club meets on Tuesdays", agent_id="coach", infer=False)
    wildcards = {"user_id": "*", "agent_id": "*", "app_id": "*", "run_id": "*", "source": "CLI"}
    with raw(server) as http:  # mem0-cli's `delete --all --project --force`
        done = http.delete("/v1/memories/", params=wildcards)
    assert done.status_code == 200 and done.json()["deleted"] == 4, done.text
    assert client.users()["results"] == []


def test_immutable_memories_stand(client: MemoryClient) -> None:
    old = client.add("I use Strava", user_id="max", immutable=True)["results"][0]
    events = client.add("I quit Strava and moved everything to Garmin Connect", user_id="max")
    assert {e["event"] for e in events["results"]} == {"ADD"}, events
    kept = client.get(old["id"])
    assert kept["memory"] == old["memory"] and kept["immutable"] is True
    with pytest.raises(InvalidInputError) as refused:
        client.update(old["id"], text="I use nothing")
    assert refused.value.field == "memory_id"


def test_per_request_instructions_and_categories(client: MemoryClient) -> None:
    text = [{"role": "user", "content": "I have a dog named Rex."},
            {"role": "user", "content": "I run every Tuesday morning."}]  # one memory a turn
    kept = client.add(text, user_id="ann", includes="running and training",
                      excludes="pets and animals")["results"]  # fmt: skip
    assert [r["memory"] for r in kept] == ["Ann runs every Tuesday morning"], kept
    both = client.add(text, user_id="bob")["results"]
    assert len(both) == 2  # without them, the dog is kept too
    mine = [{"sport": "running, training"}, {"pets": "animals the user keeps"}]
    tagged = client.add("I love my cat Tom.", user_id="cid", custom_categories=mine)
    got = client.get(tagged["results"][0]["id"])
    assert got["categories"] and set(got["categories"]) <= {"sport", "pets"}, got


def test_output_format_and_refused_options(server: ServerProcess, client: MemoryClient) -> None:
    with raw(server) as http:
        body = {"messages": "I like tea", "user_id": "max", "infer": False,
                "async_mode": False, "output_format": "v1.0"}  # fmt: skip
        bare = http.post("/v1/memories/", json=body)
        assert bare.status_code == 200 and bare.json()[0]["event"] == "ADD", bare.text
        for option in ("enable_graph", "structured_data_schema"):
            refused = http.post("/v1/memories/", json={**body, option: {"a": 1}})
            assert refused.status_code == 400 and refused.json()["field"] == option
            assert "not supported" in refused.json()["detail"]
        wrong = http.post("/v1/memories/", json={**body, "output_format": "v9"})
        assert wrong.status_code in (400, 422) and wrong.json()["field"] == "output_format"
        searched = http.post("/v2/memories/search/", json={"query": "tea", "user_id": "max",
                                                           "filter_memories": True})
        assert searched.status_code == 400 and searched.json()["field"] == "filter_memories"


def test_read_options_narrow_and_widen_reads(client: MemoryClient) -> None:
    tea = stored(client, "I drink green tea", metadata={"kind": "drink"})
    stored(client, "I run marathons", metadata={"kind": "sport"})
    gone = stored(client, "I am in Rome this week", expiration_date=day(-1))
    old = client.add("I use Strava", user_id="max")["results"][0]["id"]
    client.add("I quit Strava and moved everything to Garmin Connect", user_id="max")

    def ids(**options: object) -> set[str]:
        return {r["id"] for r in client.get_all(user_id="max", **options)["results"]}

    assert tea in ids(metadata={"kind": "drink"}) and len(ids(metadata={"kind": "drink"})) == 1
    drinks = ids(categories=[client.get(tea)["categories"][0]])
    assert tea in drinks
    assert gone not in ids() and gone in ids(show_expired=True)
    assert old not in ids() and old in ids(latest_only=False)
    superseded = next(r for r in client.get_all(user_id="max", latest_only=False)["results"]
                      if r["id"] == old)  # fmt: skip
    assert superseded["state"] == "superseded" and superseded["replaced_by"]
    assert ids(start_date=day(1)) == set() and tea in ids(end_date=day(1))
    only = client.get_all(user_id="max", fields=["memory"])["results"]
    assert only and all(set(r) == {"id", "memory"} for r in only)

    def found(**options: object) -> list[str]:
        return [r["id"] for r in client.search("tea", user_id="max", **options)["results"]]

    assert found(metadata={"kind": "sport"}) == [] or tea not in found(metadata={"kind": "sport"})
    assert tea in found(metadata={"kind": "drink"})
    assert gone in [r["id"] for r in client.search("Rome", user_id="max", show_expired=True,
                                                   threshold=0.0)["results"]]  # fmt: skip
    assert gone not in [r["id"] for r in client.search("Rome", user_id="max",
                                                       threshold=0.0)["results"]]  # fmt: skip
    hit = client.search("tea", user_id="max", fields=["memory", "score"])["results"][0]
    assert set(hit) == {"id", "memory", "score"}
    with pytest.raises(InvalidInputError) as bad:
        client.get_all(user_id="max", start_date="soon")
    assert bad.value.field == "start_date"


def test_delete_linked_takes_the_superseded_chain(client: MemoryClient) -> None:
    old = client.add("I use Strava", user_id="max")["results"][0]["id"]
    events = client.add("I quit Strava and moved everything to Garmin Connect", user_id="max")
    new = next(e["id"] for e in events["results"] if e["event"] == "ADD")
    kept = stored(client, "I drink green tea")
    before = {r["id"] for r in client.get_all(user_id="max", latest_only=False)["results"]}
    assert {old, new, kept} <= before
    client.delete(new, delete_linked=True)
    left = {r["id"] for r in client.get_all(user_id="max", latest_only=False)["results"]}
    assert left == {kept}, left


def test_entities_page(client: MemoryClient) -> None:
    for user in ("ann", "bob", "cid"):
        stored(client, "likes tea", user=user)
    first = client.users(page=1, page_size=2)
    second = client.users(page=2, page_size=2)
    assert first["count"] == second["count"] == 3
    names = [e["id"] for e in first["results"] + second["results"]]
    assert sorted(names) == ["ann", "bob", "cid"]


def test_event_and_history_shapes(server: ServerProcess, client: MemoryClient) -> None:
    with raw(server) as http:
        queued = http.post("/v3/memories/add/", json={"messages": "I run every Tuesday",
                                                       "user_id": "max"}).json()  # fmt: skip
        for _ in range(300):
            event = http.get(f"/v1/event/{queued['event_id']}/").json()
            if event["status"] in ("SUCCEEDED", "FAILED"):
                break
            time.sleep(0.1)
    assert event["status"] == "SUCCEEDED" and event["latency"] >= 0, event
    result = event["results"][0]
    assert result["user_id"] == "max" and "Tuesday" in result["data"]["memory"], event
    history = client.history(result["id"])
    assert history[0]["input"] == [{"role": "user", "content": "I run every Tuesday"}]
    assert history[0]["categories"] == client.get(result["id"])["categories"]


def test_reads_as_of_a_past_instant(client: MemoryClient) -> None:
    mid = stored(client, "I run 20 km a week", user="tim")
    short = stored(client, "I am in Rome this week", user="tim")
    before = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    client.update(mid, text="I run 40 km a week")
    client.delete(short)
    client.add("I use Strava", user_id="tim")
    between = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    client.add("I quit Strava and moved everything to Garmin Connect", user_id="tim")

    def texts(at: str) -> set[str]:
        return {r["memory"] for r in client.get_all(user_id="tim", as_of=at)["results"]}

    assert texts(before) == {"I run 20 km a week", "I am in Rome this week"}
    then = texts(between)
    assert "I run 40 km a week" in then and "Tim uses Strava" in then
    assert "I am in Rome this week" not in then
    hits = client.search("which running app", user_id="tim", as_of=between, threshold=0.0)
    assert "Tim uses Strava" in [r["memory"] for r in hits["results"]]
    assert {r["memory"] for r in client.get_all(user_id="other", as_of=between)["results"]} == set()
