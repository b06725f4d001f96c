"""The built-in analyzer: metrics.py measures a file (no Django), jobs.py keeps each AnalysisJob row's state
and runs it, tasks.py is the huey side (the tasks, and the queue jobs.py is handed). Imports go one way:
tasks → jobs → metrics."""
