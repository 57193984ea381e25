"""``python -m bench [name ...]``: run the benchmarks in this folder (see bench/run.py)."""

from bench.run import main

main()
