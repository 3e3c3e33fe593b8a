"""Speaking in a live session: what `voicecoach run` plugs into the session.

    speaker = Speaker(script, renderer, open_sink)   # open_sink() -> a SoundDeviceSink, say
    speaker.prepare(progress=True)                   # render what is known in advance
    session = Session(script, RealClock(), duration_of=speaker.duration_of,
                      on_speech=speaker.on_speech)
    speaker.start()                                  # the output stream is running
    ... the live loop (voicecoach.live.LiveCoach) watches speaker.lost and calls reopen() ...
    speaker.close()                                  # plays out what is still sounding

`on_speech` hands the session's speech actions (start, cut) to the live player the moment the
speech queue takes them, so an acknowledgement reaches the output stream within a couple of
blocks.
"""
from __future__ import annotations

import time
from typing import Callable

from ..errors import UserError
from ..speech_queue import SpeechAction
from . import SAMPLE_RATE
from .player import LivePlayer, duration_from, sounds_from
from .sinks import Sink
from .tts import Renderer, RenderStats

class Speaker:
    """The coach's voice in a live session: rendered speech and earcons through a LivePlayer on
    an output that can be lost (unplugged earbuds, the sound server gone) and opened again.
    `sink` is a sink, or a function that opens one (needed to reopen)."""

    def __init__(self, script, renderer: Renderer, sink: Sink | Callable[[], Sink]) -> None:
        self.script = script
        self.renderer = renderer
        self.sound_of = sounds_from(renderer)
        self.duration_of = duration_from(self.sound_of, SAMPLE_RATE)
        self._open_sink = sink if callable(sink) and not hasattr(sink, "write") else (lambda: sink)
        self.live = LivePlayer(self._open_sink(), self.sound_of)

    def prepare(self, progress: bool = False) -> RenderStats:
        from ..session import speakable_texts
        return self.renderer.prerender(speakable_texts(self.script), progress=progress)

    def start(self) -> None:
        self.live.start()

    def on_speech(self, action: SpeechAction) -> None:
        if not self.lost:
            self.live.submit([action], decided=time.perf_counter())

    @property
    def lost(self) -> bool:
        """The output stopped taking samples (the player's thread reported why)."""
        return self.live.error is not None

    @property
    def error(self) -> str:
        return str(self.live.error or "")

    def reopen(self) -> bool:
        """Try to open the output again; True when it is playing once more."""
        self._stop()
        try:
            self.live = LivePlayer(self._open_sink(), self.sound_of)
            self.live.start()
            return True
        except UserError:
            return False

    @property
    def latencies(self):
        """(utterance, seconds from hand-over to its first sample written) for each played."""
        return self.live.latencies

    def _stop(self) -> None:
        try:
            self.live.stop(drain=not self.lost)
        except UserError:
            pass        # a lost output has said why, through `lost`; closing it is best effort

    def close(self) -> None:
        try:
            self._stop()
        finally:
            self.renderer.close()
