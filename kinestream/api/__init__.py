"""The FastAPI service: analysis sessions and live results."""
