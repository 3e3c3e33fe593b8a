"""A live session speaking: the real session on the real clock, its events handed to the
Speaker as they happen, the live player writing (paced at real time) to memory."""
from __future__ import annotations

import time

import numpy as np

from voicecoach.clock import RealClock
from voicecoach.script import load_script
from voicecoach.session import Session
from voicecoach.speak import SAMPLE_RATE, earcons
from voicecoach.speak.live import Speaker
from voicecoach.speak.player import CUT_FADE
from voicecoach.speak.sinks import MemorySink
from voicecoach.speak.tts import Renderer, VoiceSettings

SCRIPT = """\
title: Short test
language: en
voice: {rate: 200}
steps:
  - name: Easy
    duration: 30s
    speed: 1.0
    cues:
      - at: 5s
        say: Stand tall.
"""


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_command_cuts_the_welcome_and_its_earcon_follows_at_once(write_script, tmp_path):
    script = load_script(write_script(SCRIPT))
    sink = MemorySink()
    speaker = Speaker(script, Renderer(VoiceSettings.for_script(script), tmp_path), sink)
    stats = speaker.prepare()
    assert stats.rendered == stats.texts > 5          # welcome, announcements, acks, help...
    session = Session(script, RealClock(), duration_of=speaker.duration_of,
                      on_speech=speaker.on_speech)
    speaker.start()
    try:
        session.begin()                               # the welcome starts speaking
        player = speaker.live.player
        welcome = next(e.extra["utterance"] for e in session.events if "utterance" in e.extra)
        welcome_start = player.placed[welcome][0]
        _wait_for(lambda: player.position > welcome_start + int(0.4 * SAMPLE_RATE))
        session.hear("go")
    finally:
        speaker.close()
    said = {e.extra["utterance"]: e for e in session.events if "utterance" in e.extra}
    cut = [e for e in session.events if e.type == "dropped" and e.extra["reason"] == "interrupted"]
    assert [e.extra["utterance"] for e in cut] == [welcome]   # the welcome was cut by "go"
    start_tone = next(e for e in said.values() if e.extra.get("earcon") == "start")
    tone_at, _ = player.placed[start_tone.extra["utterance"]]
    _, welcome_end = player.placed[welcome]
    assert welcome_end == tone_at + int(round(CUT_FADE * SAMPLE_RATE))   # cut where the tone starts
    out = sink.samples
    tone = earcons.load("start")
    fade = int(round(CUT_FADE * SAMPLE_RATE))
    assert np.max(np.abs(out[tone_at + fade: tone_at + len(tone)] - tone[fade:])) < 1e-6
    assert np.max(np.abs(out[welcome_start: welcome_start + SAMPLE_RATE // 4])) > 0.05
    assert any(u.earcon == "start" for u, _ in speaker.latencies)
