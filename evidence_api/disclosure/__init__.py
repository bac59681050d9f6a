"""信息公示: the public, unauthenticated read API and page of published spot checks
and penalty decisions, each with its proof bundle (docs/disclosure.md)."""
