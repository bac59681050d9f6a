"""The web console (网页控制台): server-rendered pages (Jinja2, htmx) for officers,
platforms and administrators, in Simplified Chinese with an English toggle. Pages call
the same service functions as the API; see docs/console.md."""
