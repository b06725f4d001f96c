"""Schedules and timelapses: timing.py says when (no Django), models.py keeps the state, body.py validates a
schedule as the API, the admin and the CLI give it, runner.py takes the frames, timelapse.py assembles them,
tasks.py is the job queue's side. Frames are ordinary captures through capture.camera.service."""
