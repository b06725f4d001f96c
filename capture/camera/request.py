"""A validated capture request: what the service hands a backend. Built by capture.camera.params."""

from __future__ import annotations

from dataclasses import dataclass, field

from capture.formats import FORMATS, Format


@dataclass(frozen=True)
class CaptureRequest:
    format: str
    width: int
    height: int
    fps: int
    duration_sec: float
    filename: str = ""  # the sanitised name asked for; empty means a default name
    camera: int = 0
    # Camera controls by their API names (`rotation`, `shutterUs`, ...): the request's values over the camera's
    # configured defaults. Only controls that were given or configured are here; the rest stay the camera's own.
    controls: dict = field(default_factory=dict)

    @property
    def duration_ms(self) -> int:
        return max(1, round(self.duration_sec * 1000))

    @property
    def kind(self) -> Format:
        return FORMATS[self.format]

    @property
    def is_video(self) -> bool:
        return self.kind.video
