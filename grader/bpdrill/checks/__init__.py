"""One module per exercise: everything the grader knows about it (see bpdrill.grading.registry)."""
