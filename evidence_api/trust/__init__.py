"""Trust roots a verifier needs (log key, chain binding) and publishing them."""
