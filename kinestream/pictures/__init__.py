"""Pictures of an analysis: the session plot and the video overlay."""
