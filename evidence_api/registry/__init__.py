"""Registries of the supervision workflow: platforms, online trading entities
(统一社会信用代码 checked) and cases, with their pure rules (no I/O in
``case_workflow`` and ``uscc``)."""
