"""A physics-based synthetic athlete: pose streams of jumps with exact ground truth.

Used by the tests (accuracy against derived ground truth), the benchmarks and the demo
recording. Nothing here is used by the analysis itself.
"""
