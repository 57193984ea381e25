"""Per-stream analysis: plain, picklable Python with no transport or storage in it."""
