"""Credit records and grading (信用分级): records from cases, takedowns, spot checks and
complaints; the grading policy; grade changes; GET /v1/entities/{id}/credit
(docs/credit.md)."""
