"""The full audit (``evidence audit``): the tree rebuilt from the stored entries, every
node and checkpoint compared, every stored object re-hashed against its manifest, every
anchor, cosignature and timestamp checked; each discrepancy reported with its location."""
