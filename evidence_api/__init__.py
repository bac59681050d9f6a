"""Evidence Anchor service: intake, storage, auth and the supervision workflow.

This release holds the database plumbing (engines, the single Alembic
migration history) and the ``evidence`` command; the HTTP service arrives
with the intake issue.
"""
