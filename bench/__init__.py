"""Benchmarks: figures to read, not tests. Run them all with ``python -m bench``."""
