"""双随机、一公开: the inspection-item list, spot-check plans committed to the log,
draws seeded by a future chain block, and results (docs/spot-check.md)."""
