"""Bytewax dataflows that run the per-stream analysis on Kafka."""
