"""Helpers that don't need Django: the subprocess runner, ffmpeg, the outgoing HTTP client."""
