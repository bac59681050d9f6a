"""The OpenAPI document says what the service really answers.

FastAPI documents error responses as ``application/json`` and adds its own
``HTTPValidationError`` for 422, while every error this service sends is an
RFC 9457 ``application/problem+json`` document. :func:`install_openapi`
rewrites the generated document once: every 4xx/5xx response carries the
``Problem`` schema under ``application/problem+json``; every operation
documents the refusals any request can meet (400 malformed, 413 too large,
422 invalid, 503 unavailable), and operations that need a token declare the
bearer scheme and its refusals (401, 403, 429).

Every 2xx JSON answer carries an ``example``: the route's own when it gives one, a
recorded one for the answers with no schema (:data:`FIXED_EXAMPLES`: the readiness
checks, a real sealed proof bundle), else one built from the answer's schema by
:func:`example_of` (field examples and defaults first, then realistic values chosen by
field name and format), so Swagger UI and client generators show a concrete answer.
A unit test checks each example against its schema.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from verifier.service.problem import PROBLEM_SCHEMA

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
#: Refusals any operation can answer, and those of operations that need a token.
COMMON = {
    "400": "malformed request (e.g. a body that is not UTF-8 JSON)",
    "413": "body over the route's limit",
    "422": "invalid input (the detail names the field)",
    "503": "database or storage unavailable; retry after Retry-After",
}
AUTHENTICATED = {
    "401": "missing, invalid, expired or revoked token",
    "403": "the token's role may not do this",
    "429": "too many invalid tokens from this client; retry after Retry-After",
}
BEARER = {"bearer": {"type": "http", "scheme": "bearer", "description": "API token (ea_...)"}}


#: A real sealed evidence-proof/v1 bundle (what ``evidence-verify`` checks).
PROOF_BUNDLE: dict[str, Any] = json.loads(
    (Path(__file__).parent / "openapi_examples" / "proof_bundle.json").read_text("utf-8")
)
#: Examples of the answers that have no schema, by (path, method).
FIXED_EXAMPLES: dict[tuple[str, str], Any] = {
    ("/healthz", "get"): {"status": "ok"},
    ("/readyz", "get"): {
        "status": "ready",
        "checks": {"database": "ok", "storage": "ok", "chain": "ok", "integrity": "ok"},
    },
    ("/v1/evidence/{evidence_id}/proof", "get"): PROOF_BUNDLE,
    ("/v1/log/lookup", "get"): {"matches": [{**PROOF_BUNDLE, "manifest": None}]},
}
#: Example strings by field name (checked against the field's own pattern and length).
HEX64 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
NAMED: dict[str, Any] = {
    "evidence_id": "ev-01a23ac6ee2e6a8c641af64da6b6",
    "entry_id": "ev-01a23ac6ee2e6a8c641af64da6b6",
    "sha256": HEX64,
    "sm3": "becbbfaae6548b8bf0cfcad5a27183cd1be6093b1cceccc303d9c61d0a645268",
    "digest": HEX64,
    "leaf_hash": "68ebda52a04a3b3882058c53a639760f425159c69f8dba0dfccb4ff058edac51",
    "url": "https://mall.example.com/item/10086",
    "source_url": "https://mall.example.com/item/10086",
    "shop_url": "https://mall.example.com/shop/20261",
    "webhook_url": "https://hooks.mall.example.com/takedowns",
    "platform": "example-mall",
    "code": "example-mall",
    "name": "某某商城",
    "shop_name": "某某保健品旗舰店",
    "shop_id": "shop-20261",
    "entity": "某某保健品旗舰店",
    "uscc": "91350100M000100Y43",
    "number": "泉市监网案〔2026〕12号",
    "case_number": "泉市监网案〔2026〕12号",
    "case": "泉市监网案〔2026〕12号",
    "case_id": "泉市监网案〔2026〕12号",
    "title": "某某保健品旗舰店涉嫌虚假宣传案",
    "officer": "张三",
    "display_name": "张三",
    "actor_name": "张三（泉州市市场监督管理局）",
    "unit": "泉州市市场监督管理局",
    "username": "zhangsan",
    "actor": "token-7",
    "submitter": "token-7",
    "legal_basis": "《电子商务法》第三十八条",
    "reason": "商品页宣称“根治高血压”，涉嫌虚假宣传",
    "note": "已收到，正在核查",
    "media_type": "text/html",
    "log_origin": "evidence.local/log",
    "tx_hash": "0x5f2c7e0d8a1b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5",
    "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "next_cursor": None,
    "label": "立案",
    "role": "officer",
    "status": "sealed",
    "state": "confirmed",
    "step": "立案",
    "kind": "evidence",
    "purpose": "立案调查取证",
    "detail": "found on chain",
}
#: Example strings by JSON Schema format.
FORMATS = {
    "date-time": "2026-12-03T08:30:00Z",
    "date": "2026-12-03",
    "uri": "https://mall.example.com/item/10086",
}
#: How deep :func:`example_of` follows nested schemas (self-referencing ones stop here).
MAX_DEPTH = 12


def _fits(value: str, schema: dict[str, Any]) -> bool:
    pattern = schema.get("pattern")
    if pattern is not None and re.search(pattern, value) is None:
        return False
    shortest, longest = int(schema.get("minLength", 0)), int(schema.get("maxLength", len(value)))
    return shortest <= len(value) <= longest


def _string(schema: dict[str, Any], name: str | None) -> str:
    candidates = []
    if name is not None:
        named = NAMED.get(name)
        if isinstance(named, str):
            candidates.append(named)
        if name.endswith(("_sha256", "_sm3", "_hash")) or name == "root":
            candidates.append(HEX64)
        if name.endswith("_at"):
            candidates.append(FORMATS["date-time"])
        if name.endswith("_by"):
            candidates.append("token-7")
        if name.endswith("_name"):
            candidates.append("张三（泉州市市场监督管理局）")
        if name.endswith("url"):
            candidates.append(FORMATS["uri"])
        if name.endswith("_id"):
            candidates.append(f"{name[:-3].replace('_', '-')}-1")
    if "format" in schema and schema["format"] in FORMATS:
        candidates.append(FORMATS[schema["format"]])
    candidates += ["示例", "example-1", "A1", FORMATS["uri"]]
    for candidate in candidates:
        if _fits(candidate, schema):
            return candidate
    return "x" * max(1, int(schema.get("minLength", 1)))


def example_of(
    schema: dict[str, Any],
    components: dict[str, Any],
    name: str | None = None,
    depth: int = 0,
) -> Any:
    """A value that ``schema`` accepts: its own example or default when it has one, else
    built from its type, its properties and the field's ``name``."""
    if depth > MAX_DEPTH:
        return None
    if "$ref" in schema:
        target = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
        return example_of(target, components, name, depth + 1)
    if schema.get("examples"):
        return schema["examples"][0]
    for key in ("example", "const"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("default") is not None:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            if name in NAMED and NAMED[name] is None and len(options) < len(schema[key]):
                return None
            return example_of(options[0], components, name, depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example_of(part, components, name, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props: dict[str, Any] = schema.get("properties", {})
        out = {key: example_of(sub, components, key, depth + 1) for key, sub in props.items()}
        extra = schema.get("additionalProperties")
        if not props and isinstance(extra, dict):
            out[name or "key"] = example_of(extra, components, None, depth + 1)
        return out
    if kind == "array":
        single = name[:-1] if name and name.endswith("s") else name  # evidence_ids: an id
        item = example_of(schema.get("items", {}), components, single, depth + 1)
        return [item] * max(1, int(schema.get("minItems", 1)))
    if kind == "string":
        return _string(schema, name)
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1) if schema.get("minimum", 1) >= 0 else 1
    if kind == "number":
        return float(schema.get("minimum", 1.5)) if "exclusiveMinimum" not in schema else 1.5
    if kind == "boolean":
        return True
    return None


def add_examples(doc: dict[str, Any]) -> None:
    """An ``example`` on every 2xx JSON answer that has none (see the module docstring)."""
    components = doc.get("components", {}).get("schemas", {})
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict):
                continue
            for status, response in op.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                for media_type, media in response.get("content", {}).items():
                    if "json" not in media_type or "example" in media or "examples" in media:
                        continue
                    fixed = FIXED_EXAMPLES.get((path, method))
                    if fixed is not None:
                        media["example"] = fixed
                    elif media.get("schema"):
                        media["example"] = example_of(media["schema"], components)


def problem_content() -> dict[str, Any]:
    return {"application/problem+json": {"schema": dict(PROBLEM_REF)}}


def normalise(doc: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a FastAPI OpenAPI document as described in the module docstring."""
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    components.setdefault("securitySchemes", {}).update(BEARER)
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses: dict[str, Any] = op["responses"]
            extra = dict(COMMON)
            if op.get("security"):
                extra.update(AUTHENTICATED)
            for status, description in extra.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = problem_content()
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and unused not in str(doc.get("paths")):
            del schemas[unused]
    add_examples(doc)
    return doc


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`normalise`'s document at ``/openapi.json`` (built once, on demand)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = normalise(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


@lru_cache(maxsize=64)
def _template(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the OpenAPI document lists for ``path`` (for a 405's ``Allow``)."""
    methods: set[str] = set()
    for template, item in app.openapi().get("paths", {}).items():
        if _template(template).match(path):
            methods.update(m.upper() for m in item if m != "parameters")
    return sorted(methods)
