"""Units and jurisdiction (五级贯通): the organisation tree, officers' units, and the
unit each entity, case, takedown order and monitor belongs to (docs/supervision.md)."""
