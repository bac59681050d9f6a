"""``evidence witness serve``: an independent witness (C2SP ``tlog-witness``) with its own
Ed25519 key and state, cosigning checkpoints that are consistent with what it saw."""
