"""Evidence Anchor verifier — CONSENSUS-CRITICAL.

Everything in this package decides whether a proof we issued is accepted:
Merkle hashing and proofs (RFC 9162), canonical JSON (RFC 8785), signed notes
and checkpoints (C2SP), receipts, the ``evidence-proof/v1`` bundle format and
the tiered verification. Changing any of it can invalidate every proof
already issued, so formats change only with a format version bump.

The package imports nothing from ``anchoring`` or ``evidence_api``. Its core
modules do no I/O; the CLI reads files, and :mod:`verifier.chain` queries the
JSON-RPC endpoints a user names for tier 5 (the only network access, and only
when asked). A court must be able to run it alone.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from verifier.bundle import FORMAT_V1, Bundle, load_bundle
    from verifier.errors import VerifierError
    from verifier.merkle import (
        leaf_hash,
        node_hash,
        root_from_inclusion_proof,
        verify_consistency,
        verify_inclusion,
    )
    from verifier.verify import Outcome, Report, Status, verify_bundle

#: The public names, and the module each comes from. Loaded on first use (PEP 562), so that
#: ``evidence-verify --help`` and other light users of one submodule do not pay for them all.
_EXPORTS = {
    "FORMAT_V1": "verifier.bundle",
    "Bundle": "verifier.bundle",
    "load_bundle": "verifier.bundle",
    "VerifierError": "verifier.errors",
    "leaf_hash": "verifier.merkle",
    "node_hash": "verifier.merkle",
    "root_from_inclusion_proof": "verifier.merkle",
    "verify_consistency": "verifier.merkle",
    "verify_inclusion": "verifier.merkle",
    "Outcome": "verifier.verify",
    "Report": "verifier.verify",
    "Status": "verifier.verify",
    "verify_bundle": "verifier.verify",
}

__all__ = [
    "FORMAT_V1",
    "Bundle",
    "Outcome",
    "Report",
    "Status",
    "VerifierError",
    "leaf_hash",
    "load_bundle",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_bundle",
    "verify_consistency",
    "verify_inclusion",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'verifier' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
