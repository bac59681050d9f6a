"""Tier 5, the on-chain anchor: the contract's ABI (:mod:`~verifier.chain.abi`), the
JSON-RPC transport (:mod:`~verifier.chain.rpc`) and the rules (:mod:`~verifier.chain.anchor`).
"""
