"""Edges of the system: Kafka, the database, video and recordings, webhooks."""
