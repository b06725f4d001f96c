"""Retention: rules that delete the oldest unpinned captures (by age, total size and the disk's free space),
the trash they go through, the 507 before a capture that would not fit, and reconcile (disk vs database).

rules.py chooses, apply.py deletes (through Capture.delete_with_files(), so every deletion goes to the trash and
is recorded as a Deletion), space.py estimates a capture's size and refuses it, reconcile.py compares the upload
directory with the rows, tasks.py runs them on the job queue's periodic scheduler.
"""
