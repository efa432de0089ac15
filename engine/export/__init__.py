"""Stage 6, what a developer is handed: one script of a failure, rendered as pytest or curl, and the JSON report."""
