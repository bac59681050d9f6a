"""The public log API: checkpoints, inclusion and consistency proofs, lookups."""
