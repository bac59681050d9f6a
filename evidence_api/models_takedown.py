"""Takedown orders, their state changes and webhook deliveries (tables of ``0007_takedowns``)."""

from __future__ import annotations
