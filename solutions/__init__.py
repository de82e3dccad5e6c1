"""Reference solutions: the one source the skeletons in exercises/ are generated from."""
