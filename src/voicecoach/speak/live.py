"""Speaking in a live session: what `voicecoach run` plugs into the session.

    speaker = Speaker.for_script(script, voice=args.voice, rate=args.rate, volume=args.volume,
                                 device=args.device)
    speaker.prepare(progress=True)             # render what is known in advance
    session = Session(script, RealClock(), duration_of=speaker.duration_of,
                      on_event=speaker.on_event)
    speaker.start()                            # the output stream is running
    ... the live loop: session.advance(now) at next_deadline(), session.command(...) ...
    speaker.close()                            # plays out what is still sounding

`on_event` turns the session's timeline events into the player's actions the moment they are
emitted, so an acknowledgement reaches the output stream within a couple of blocks.
"""
from __future__ import annotations

import time
from pathlib import Path

from ..events import DROPPED, TimelineEvent
from ..speech_queue import Cut, Priority, Started, Utterance
from . import SAMPLE_RATE
from .player import LivePlayer, duration_from, sounds_from
from .sinks import Sink, SoundDeviceSink
from .tts import Renderer, RenderStats, VoiceSettings

SPOKEN = ("step", "cue", "response")


def event_utterance(e: TimelineEvent) -> Utterance:
    """The utterance a spoken (or cut) timeline event stands for."""
    utt = Utterance(text=e.text, priority=Priority.CUE, kind=e.type,
                    earcon=e.extra.get("earcon"), intent=e.intent, step=e.step,
                    id=int(e.extra["utterance"]))
    if e.extra.get("audio"):
        utt.extra = {"audio": e.extra["audio"]}     # a cue played from its own recording
    return utt


def event_action(e: TimelineEvent) -> Started | Cut | None:
    """The player's action for a timeline event: Started for a spoken one, Cut for one dropped
    as interrupted, None for anything else (states, commands, never-played drops)."""
    if "utterance" not in e.extra:
        return None
    if e.type in SPOKEN:
        return Started(event_utterance(e), e.t, float(e.extra.get("duration", 0.0)))
    if e.type == DROPPED and e.extra.get("reason") == "interrupted":
        return Cut(event_utterance(e), e.t)
    return None


class Speaker:
    def __init__(self, script, renderer: Renderer, sink: Sink) -> None:
        self.script = script
        self.renderer = renderer
        self.sound_of = sounds_from(renderer)
        self.duration_of = duration_from(self.sound_of, SAMPLE_RATE)
        self.live = LivePlayer(sink, self.sound_of)

    @classmethod
    def for_script(cls, script, voice: str | None = None, rate: int | None = None,
                   volume: float | None = None, device: int | str | None = None,
                   sink: Sink | None = None, cache: Path | None = None) -> "Speaker":
        renderer = Renderer(VoiceSettings.for_script(script, voice, rate, volume), cache)
        return cls(script, renderer, sink if sink is not None else SoundDeviceSink(device))

    def prepare(self, progress: bool = False) -> RenderStats:
        from ..session import speakable_texts
        return self.renderer.prerender(speakable_texts(self.script), progress=progress)

    def start(self) -> None:
        self.live.start()

    def on_event(self, event: TimelineEvent) -> None:
        action = event_action(event)
        if action is not None:
            self.live.submit([action], decided=time.perf_counter())

    @property
    def latencies(self):
        """(utterance, seconds from hand-over to its first sample written) for each played."""
        return self.live.latencies

    def close(self) -> None:
        try:
            self.live.stop()
        finally:
            self.renderer.close()
