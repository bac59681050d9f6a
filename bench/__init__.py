"""Benchmarks of the Merkle log and the offline verifier (``python -m bench --help``).

Every figure is printed beside a baseline measured in the same run on the same
leaves, with the ratio: the machines that run this are shared and noisy, so a
figure on its own says little. The baseline is pymerkle 7 (GPL-3.0), a
benchmark-only dependency imported under ``bench/`` and nowhere else.
"""
