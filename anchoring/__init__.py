"""Evidence Anchor log: the append-only RFC 9162 Merkle log, its node stores,
and (in later modules) the sealer, chain client and anchorer.

May import :mod:`verifier` (the hash definitions live there, once); never
imports :mod:`evidence_api`. Nothing here connects to anything at import time.
"""

from anchoring.log import MerkleLog
from anchoring.store import MemoryNodeStore, NodeStore

__all__ = ["MemoryNodeStore", "MerkleLog", "NodeStore"]
