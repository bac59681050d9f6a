"""Tables (filled in by the feature; created by its migration)."""

from __future__ import annotations
