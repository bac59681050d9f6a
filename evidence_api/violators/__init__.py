"""The serious-violator list (严重违法失信名单): placement, removal and expiry, the platforms' feed
with signed webhooks and acknowledgements, publication (docs/violators.md)."""
