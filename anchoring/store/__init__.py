"""Node stores: where the log keeps the hash of every perfect subtree."""

from anchoring.store.base import NodeStore
from anchoring.store.memory import MemoryNodeStore

__all__ = ["MemoryNodeStore", "NodeStore"]
