"""Running gait: per-foot contacts, steps, rolling gait figures and bout summaries."""
