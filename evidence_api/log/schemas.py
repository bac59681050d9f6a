"""The log API's response bodies (pydantic)."""

from __future__ import annotations

from pydantic import BaseModel


class InclusionProofOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    hashes: list[str]


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    hashes: list[str]
