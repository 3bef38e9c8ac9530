"""schemathesis against a live server's own OpenAPI document (/openapi.json): every operation
with schema-valid and schema-violating requests, then stateful sequences along the document's
links (add, then read back, update, list history and delete what was added). No answer may be
a 5xx, an undocumented status or content type, or a body that breaks its schema; a 405 lists
the path's methods.

Not checked: whether the request schema states every rule the server enforces (schemathesis'
positive_data_acceptance / negative_data_rejection): the document does not declare rules such
as "a read needs a scope" or "query is non-empty", which the server answers with a 400 naming
the field.

ENGRAM_FUZZ_SEED and ENGRAM_FUZZ_EXAMPLES explore further than CI's fixed run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server_process import ServerProcess

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
)
EXAMPLES = os.environ.get("ENGRAM_FUZZ_EXAMPLES", "20")  # per operation and phase
SEED = os.environ.get("ENGRAM_FUZZ_SEED", "20261201")
TIMEOUT_S = 900


def _schemathesis() -> Path:
    cli = Path(sys.executable).parent / "schemathesis"
    assert cli.exists(), "schemathesis is missing: pip install -e '.[dev]'"
    return cli


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("openapi")) as running:
        yield running


def test_405_lists_every_method_of_the_path(server: ServerProcess) -> None:
    """Each method is its own route; the first one's methods alone made a wrong `Allow`."""
    headers = {"Authorization": f"Token {server.api_key}"}
    for path, allowed in [
        ("/v1/memories/some-id/", "DELETE, GET, PUT"),
        ("/v1/batch/", "DELETE, PUT"),
        ("/v1/memories/", "DELETE, GET, POST"),
        ("/api/v1/webhooks/deliveries/", "GET"),  # not /api/v1/webhooks/{webhook_id}/'s
    ]:
        r = httpx.request("PATCH", f"{server.url}{path}", headers=headers)
        assert r.status_code == 405 and r.headers["allow"] == allowed, (path, r.headers)
        assert r.json()["detail"] == "Method Not Allowed"


def test_document_links_what_answers_supply(server: ServerProcess) -> None:
    document = httpx.get(f"{server.url}/openapi.json").json()
    add = document["paths"]["/v1/memories/"]["post"]["responses"]["200"]["links"]
    get = document["paths"]["/v1/memories/{memory_id}/"]["get"]["operationId"]
    assert add[get]["parameters"] == {"memory_id": "$response.body#/results/0/id"}
    queued = document["paths"]["/v3/memories/add/"]["post"]["responses"]["200"]["links"]
    assert [link["parameters"] for link in queued.values()] == [
        {"event_id": "$response.body#/event_id"}
    ]


@pytest.mark.timeout(TIMEOUT_S + 60)  # 2,400 cases: ~2.5 min on a loaded 2-core machine
def test_server_conforms_to_its_openapi(server: ServerProcess) -> None:
    done = subprocess.run(
        [
            str(_schemathesis()),
            "--no-color",
            "run",
            f"{server.url}/openapi.json",
            "--header",
            f"Authorization: Token {server.api_key}",
            "--checks",
            ",".join(CHECKS),
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            EXAMPLES,
            "--seed",
            SEED,
            "--workers",
            "1",
            "--request-timeout",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=server.home,
    )
    output = done.stdout + done.stderr
    cases = re.search(r"(\d+) generated", output)
    print(f"\nschemathesis: {cases.group(1) if cases else '?'} cases, seed {SEED}")
    assert done.returncode == 0, f"{output[-20000:]}\n--- server log:\n{server.log()[-5000:]}"
    assert cases and int(cases.group(1)) > 500, output[-5000:]
    assert "Stateful" in output, output[-5000:]
