"""Takedown orders: the officer API, the platform API, the pure state machine
(``workflow``), signed webhooks and the overdue scan."""
