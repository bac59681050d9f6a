"""Statistics of the demonstration zone (示范区指标): GET /v1/stats/market and its CSV
(docs/stats.md)."""
