"""Practice: the workspace, skeletons and blank pages, drills, the history, the review
schedule, interview mode and its questions."""
