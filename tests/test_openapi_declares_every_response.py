"""Every operation of the served OpenAPI document declares its 200 body as a real model (not a
free-form object) and Engram's JSON error body for its error statuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.server_process import ServerProcess

ERROR_STATUSES = ("400", "401", "404", "422", "503")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with ServerProcess(tmp_path_factory.mktemp("home")) as server:
        yield httpx.get(f"{server.url}/openapi.json", timeout=30).json()


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _is_model(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    """An object with declared properties, a list of such, or a union of such."""
    schema = _resolve(doc, schema)
    if schema.get("type") == "array":
        return _is_model(doc, schema.get("items", {}))
    if "anyOf" in schema:
        return all(_is_model(doc, s) for s in schema["anyOf"])
    return schema.get("type") == "object" and bool(schema.get("properties"))


def _operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{method.upper()} {path}", op) for path, ops in doc["paths"].items()
            for method, op in ops.items()]  # fmt: skip


def test_every_operation_declares_a_200_model(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert len(operations) >= 22
    missing = []
    for name, op in operations:
        ok = op.get("responses", {}).get("200", {})
        schema = ok.get("content", {}).get("application/json", {}).get("schema", {})
        if not _is_model(document, schema):
            missing.append(name)
    assert missing == []


def test_every_operation_declares_the_error_body(document: dict[str, Any]) -> None:
    for name, op in _operations(document):
        for status in ERROR_STATUSES:
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (name, status)
    error = document["components"]["schemas"]["ErrorBody"]["properties"]
    assert {"detail", "field", "error"} <= set(error)
