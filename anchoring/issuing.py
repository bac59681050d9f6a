"""Everything the log signs, in one place: receipts (a promise to include an entry
within the maximum merge delay) and checkpoints (the tree's size and root).

Both are C2SP signed notes under the log's one key; who signs what, and with
which key, is read here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence

from verifier.checkpoint import Checkpoint
from verifier.merkle import leaf_hash
from verifier.models import Entry
from verifier.note import SignerKey
from verifier.receipt import Receipt, sign_receipts


def issue_receipt(signer: SignerKey, entry: Entry, max_merge_delay: int) -> tuple[bytes, str]:
    """The entry's leaf hash and the log's signed receipt promising its inclusion."""
    leaf = leaf_hash(entry.leaf_data())
    return leaf, Receipt(signer.name, leaf, entry.at, max_merge_delay).sign(signer)


def issue_receipts(
    signer: SignerKey, leaves: Sequence[bytes], received_at: str, max_merge_delay: int
) -> list[str]:
    """The log's signed receipts for leaves received together (a stamps request)."""
    return sign_receipts(signer, leaves, received_at, max_merge_delay)


def issue_checkpoint(signer: SignerKey, size: int, root: bytes) -> str:
    """The log's signed checkpoint of the tree of ``size`` leaves and ``root``."""
    return Checkpoint(signer.name, size, root).sign(signer)
