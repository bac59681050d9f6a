"""轻违不罚 / 容错减罚: the 免罚清单 and the conditions checked when a case closes without or with a
reduced penalty (docs/leniency.md)."""
