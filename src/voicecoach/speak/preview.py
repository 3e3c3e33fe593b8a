"""`voicecoach render`: a whole session, as the simulation times it, in one WAV (+ WebVTT).

The simulation runs with the real rendered lengths as the speech queue's `duration_of`, so the
timeline it returns is the one the WAV plays: each spoken event starts at the sample of its
time; an interrupted one is cut (with the player's short fade) at the time of its "dropped"
event. Nothing waits for a clock, so an hour-long program renders in seconds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..events import CUE, DROPPED, RESPONSE, STEP, TimelineEvent
from ..speech_queue import Cut, Priority, Started, Utterance
from . import SAMPLE_RATE
from .player import Player, duration_from, sounds_from
from .sinks import Sink, WavSink
from .tts import Renderer, RenderStats, VoiceSettings

SPOKEN = (STEP, CUE, RESPONSE)


def event_utterance(e: TimelineEvent) -> Utterance:
    """The utterance a spoken (or cut) timeline event stands for."""
    utt = Utterance(text=e.text, priority=Priority.CUE, kind=e.type,
                    earcon=e.extra.get("earcon"), intent=e.intent, step=e.step,
                    id=int(e.extra["utterance"]))
    if e.extra.get("audio"):
        utt.extra = {"audio": e.extra["audio"]}     # a cue played from its own recording
    return utt


@dataclass
class Placed:
    """One thing heard in the preview: where it is in the WAV."""
    event: TimelineEvent
    start: int                 # first sample
    end: int                   # sample after the last (earlier than planned when cut)
    cut: bool = False

    @property
    def label(self) -> str:
        earcon = self.event.extra.get("earcon")
        return f"[{earcon.replace('_', ' ')} tone]" if earcon else self.event.text


@dataclass
class PreviewResult:
    events: list[TimelineEvent]
    placed: list[Placed]
    audio_seconds: float
    wall_seconds: float
    prerender: RenderStats | None = None
    on_demand: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    auto_go: tuple[float, str] | None = None   # the "go" said for the user when no --say was given


def _go_after_welcome(script, duration_of) -> tuple[float, str] | None:
    """(time, phrase): the script's first "go" phrase, one second after the welcome ends."""
    from ..simulate import simulate
    phrases = script.vocabulary().phrases.get("go") or ()
    spoken = [e for e in simulate(script, [], duration_of=duration_of)
              if "utterance" in e.extra and e.type in SPOKEN]
    if not phrases or not spoken:
        return None
    end = max(e.t + float(e.extra.get("duration", 0.0)) for e in spoken)
    return round(end + 1.0, 3), phrases[0]


def write_timeline(events: Iterable[TimelineEvent], sound_of: Callable[[Utterance], np.ndarray],
                   sink: Sink) -> list[Placed]:
    """Play a simulated timeline into a sink; returns where each spoken event landed."""
    player = Player(sink, sound_of)
    placed: dict[int, Placed] = {}
    for e in sorted(events, key=lambda e: e.t):   # stable: same-time events keep their order
        uid = e.extra.get("utterance")
        if uid is None:
            continue
        player.write_until(e.t)
        if e.type in SPOKEN:
            utt = event_utterance(e)
            player.handle(Started(utt, e.t, float(e.extra.get("duration", 0.0))))
            start, end = player.placed[utt.id]
            placed[utt.id] = Placed(e, start, end)
        elif e.type == DROPPED and e.extra.get("reason") == "interrupted" and uid in placed:
            p = placed[uid]
            player.handle(Cut(event_utterance(p.event), e.t))
            p.start, p.end = player.placed[uid]
            p.cut = True
    player.finish()
    return sorted(placed.values(), key=lambda p: p.start)


def _vtt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def webvtt(placed: Iterable[Placed], samplerate: int = SAMPLE_RATE) -> str:
    """A WebVTT file: one cue per thing said, from its first to its last sample."""
    lines = ["WEBVTT", ""]
    for i, p in enumerate(placed, 1):
        end = max(p.end, p.start + int(0.1 * samplerate))   # players hide zero-length cues
        text = p.label + (" [cut]" if p.cut else "")
        lines += [str(i), f"{_vtt_time(p.start / samplerate)} --> {_vtt_time(end / samplerate)}",
                  text.replace("-->", "->"), ""]
    return "\n".join(lines)


def render_preview(script_path: str | Path, out: str | Path,
                   says: Iterable[tuple[float, str]] = (), subtitles: str | Path | None = None,
                   voice: str | None = None, rate: int | None = None,
                   volume: float | None = None, progress: bool = False,
                   cache: Path | None = None, renderer: Renderer | None = None) -> PreviewResult:
    from ..script import load_script
    from ..session import speakable_texts
    from ..simulate import simulate

    t0 = time.perf_counter()
    script = load_script(script_path)
    own = renderer is None
    if renderer is None:
        renderer = Renderer(VoiceSettings.for_script(script, voice, rate, volume), cache)
    try:
        stats = renderer.prerender(speakable_texts(script), progress=progress)
        sound_of = sounds_from(renderer)
        duration_of = duration_from(sound_of, SAMPLE_RATE)
        says = list(says)
        auto_go = None
        if not says:
            # Nobody speaks: the session would wait for "go" after its welcome for ever. A
            # trainer previewing a program wants to hear it, so "go" is said when it is asked for.
            auto_go = _go_after_welcome(script, duration_of)
            says = [auto_go] if auto_go else []
        events = simulate(script, says, duration_of=duration_of)
        sink = WavSink(out)
        try:
            placed = write_timeline(events, sound_of, sink)
        finally:
            sink.close()
        if subtitles:
            Path(subtitles).write_text(webvtt(placed), encoding="utf-8")
        return PreviewResult(events=events, placed=placed, auto_go=auto_go,
                             audio_seconds=sink.frames_written / SAMPLE_RATE,
                             wall_seconds=time.perf_counter() - t0, prerender=stats,
                             on_demand=list(renderer.on_demand),
                             problems=list(renderer.problems))
    finally:
        if own:
            renderer.close()
