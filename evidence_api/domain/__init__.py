"""Pure rules of the supervision workflow (code checks, state machines): no I/O here.

Services and routes call these; they raise typed errors a person can act on,
which the service layer turns into 4xx problems.
"""
