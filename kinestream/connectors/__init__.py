"""The dataflow's edges: where analysis input comes from and where its output goes.

Kafka topics and their names (``topics``), the frame and pose streams read from them and
published to them (``stream_reader``, ``stream_publisher``), the database sink that writes the
flow's events and metrics (``database``), and the file formats at the edge of one process:
video (``video``), JPEG frames (``jpeg``) and Arrow recordings (``recording``).
"""
