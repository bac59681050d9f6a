"""Clue transfer and joint investigation (线索转办 / 协查) between units and with
platforms (政企协作), every step a log entry (docs/clues.md)."""
