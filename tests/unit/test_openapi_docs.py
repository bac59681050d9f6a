"""Every operation of the OpenAPI document is documented well enough to use from /docs.

For EVERY operation: a summary and a description; for every JSON request body an
example; for every 2xx JSON answer an example; each example valid against its schema;
the bearer scheme on operations that need a token; RFC 9457 problems on every error.
The document is built by ``create_app().openapi()``; no server runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from evidence_api.app import create_app
from evidence_api.core.config import Settings
from evidence_api.core.openapi import FIXED_EXAMPLES, PROOF_BUNDLE, example_of

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("openapi")
    document: dict[str, Any] = create_app(Settings(data_dir=data)).openapi()
    return document


def operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of ``schema`` whose ``#/components/...`` references resolve in ``doc``."""
    return Draft202012Validator({**schema, "components": doc["components"]})


def body_examples(doc: dict[str, Any], media: dict[str, Any]) -> list[Any]:
    """The examples a JSON body offers: the media type's, its schema's (through a
    reference or a nullable ``anyOf``), or one made of every required field's example."""
    if "example" in media:
        return [media["example"]]
    if "examples" in media:
        return [e["value"] for e in media["examples"].values()]
    options = [media.get("schema", {})]
    options += [o for o in options[0].get("anyOf", []) if o.get("type") != "null"]
    for option in options:
        schema = resolve(doc, option)
        if schema.get("examples"):
            return list(schema["examples"])
        props = schema.get("properties", {})
        required = schema.get("required", [])
        if required and all(props[name].get("examples") for name in required):
            return [
                {name: sub["examples"][0] for name, sub in props.items() if sub.get("examples")}
            ]
    return []


def test_the_document_has_the_operations_it_should(doc: dict[str, Any]) -> None:
    found = dict(operations(doc))
    assert len(found) >= 60
    for name in ("POST /v1/evidence", "GET /v1/log/checkpoint", "POST /v1/takedowns"):
        assert name in found


def test_every_operation_has_a_summary_and_a_description(doc: dict[str, Any]) -> None:
    missing = [
        name
        for name, op in operations(doc)
        if not (op.get("summary") or "").strip() or not (op.get("description") or "").strip()
    ]
    assert missing == []


def test_every_json_request_body_has_a_valid_example(doc: dict[str, Any]) -> None:
    missing, invalid = [], []
    bodies = 0
    for name, op in operations(doc):
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            if "json" not in media_type:
                continue
            bodies += 1
            examples = body_examples(doc, media)
            if not examples:
                missing.append(name)
            check = validator(doc, media.get("schema", {}))
            invalid += [(name, e.message) for ex in examples for e in check.iter_errors(ex)]
    assert bodies >= 15
    assert missing == []
    assert invalid == []


def test_every_2xx_json_answer_has_an_example_its_schema_accepts(doc: dict[str, Any]) -> None:
    missing, invalid = [], []
    answers = 0
    for name, op in operations(doc):
        for status, response in op["responses"].items():
            if not status.startswith("2"):
                continue
            for media_type, media in response.get("content", {}).items():
                if "json" not in media_type:
                    continue
                answers += 1
                if "example" not in media:
                    missing.append(f"{name} {status}")
                    continue
                check = validator(doc, media.get("schema", {}))
                invalid += [(name, e.message) for e in check.iter_errors(media["example"])]
    assert answers >= 55
    assert missing == []
    assert invalid == []


def test_fixed_examples_name_real_operations_and_the_bundle_is_a_real_one(
    doc: dict[str, Any],
) -> None:
    for path, method in FIXED_EXAMPLES:
        assert method in doc["paths"][path], (path, method)
    proof = doc["paths"]["/v1/evidence/{evidence_id}/proof"]["get"]
    assert proof["responses"]["200"]["content"]["application/json"]["example"] == PROOF_BUNDLE
    assert PROOF_BUNDLE["format"] == "evidence-proof/v1"
    assert PROOF_BUNDLE["status"] in ("pending", "sealed", "anchored")
    assert PROOF_BUNDLE["entry"]["id"] == PROOF_BUNDLE["manifest"]["evidence_id"]


def test_example_of_follows_refs_nullable_fields_and_names() -> None:
    components = {
        "Item": {
            "type": "object",
            "properties": {
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "created_at": {"type": "string", "format": "date-time"},
                "count": {"type": "integer", "minimum": 3},
                "next_cursor": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "kind": {"type": "string", "enum": ["listing", "shop"]},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "odd": {"type": "string", "pattern": "^zz[0-9]$"},
            },
        }
    }
    value = example_of({"$ref": "#/components/schemas/Item"}, components)
    assert len(value["sha256"]) == 64 and value["created_at"].endswith("Z")
    assert value["count"] == 3 and value["next_cursor"] is None and value["kind"] == "listing"
    assert len(value["tags"]) == 2
    assert value["odd"]  # nothing fits the pattern: still a string, which the test above catches
    looping = {
        "Node": {"type": "object", "properties": {"child": {"$ref": "#/components/schemas/Node"}}}
    }
    assert isinstance(example_of({"$ref": "#/components/schemas/Node"}, looping), dict)


def test_authenticated_operations_declare_the_bearer_scheme_and_errors_are_problems(
    doc: dict[str, Any],
) -> None:
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    public = {"GET /healthz", "GET /readyz", "GET /v1/trust/certificate-ca"}
    for name, op in operations(doc):
        # /v1/public/: no token, or the consumer's own access token (complaints, ODR, repairs).
        if name in public or name.startswith(
            ("GET /v1/log/", "GET /tlog/", "GET /v1/public/", "POST /v1/public/")
        ):
            continue
        assert op.get("security"), f"{name}: no security requirement"
        assert "401" in op["responses"], name
        for status, response in op["responses"].items():
            if status[0] in "45":
                content = response["content"]
                assert list(content) == ["application/problem+json"], (name, status)


def test_the_bundle_example_file_is_package_data() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text("utf-8")
    data = pyproject.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    assert "core/openapi_examples/*.json" in data
