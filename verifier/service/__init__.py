"""The read-only verification service: HTTP API, portal and appraisal reports.

Optional: the verifier core (``verifier``) never imports it. It needs FastAPI
(and reportlab for reports); build the app with
:func:`verifier.service.app.create_verifier_app`.
"""
