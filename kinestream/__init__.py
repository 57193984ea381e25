"""kinestream: real-time biomechanical analysis of athletes' jumps from side-view video."""

__version__ = "0.1.0"
