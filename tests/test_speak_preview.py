"""`voicecoach render`: the simulated session in one WAV, every cue where the timeline says,
with WebVTT subtitles; and the `voices` / `render` commands."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile

from voicecoach import cli
from voicecoach.events import TimelineEvent
from voicecoach.speak import SAMPLE_RATE, earcons
from voicecoach.speak.player import sounds_from
from voicecoach.speak.preview import render_preview, webvtt, write_timeline
from voicecoach.speak.sinks import WavSink
from voicecoach.speak.tts import Renderer, VoiceSettings

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "backwards-walk.yaml"
SAYS = [(4.0, "go"), (130.0, "how long"), (185.0, "faster"), (240.0, "pause"),
        (260.0, "let's go"), (330.0, "speed up")]
SPOKEN = ("step", "cue", "response")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech-cache")


@pytest.fixture(scope="module")
def preview(cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("preview")
    result = render_preview(SCRIPT, out / "preview.wav", says=SAYS,
                            subtitles=out / "preview.vtt", cache=cache)
    return result, out / "preview.wav", out / "preview.vtt"


def _heard(events: list[TimelineEvent]) -> list[tuple[float, float, TimelineEvent]]:
    """(start, end) of every spoken event, by the timeline alone (cuts from its dropped events)."""
    ends = {e.extra["utterance"]: e.t for e in events
            if e.type == "dropped" and e.extra.get("reason") == "interrupted"}
    return [(e.t, ends.get(e.extra["utterance"], e.t + e.extra["duration"]), e)
            for e in events if e.type in SPOKEN and "utterance" in e.extra]


def test_every_cue_starts_in_the_wav_where_the_simulated_timeline_says(preview):
    result, wav, _ = preview
    audio, rate = soundfile.read(wav, dtype="float32")
    assert rate == SAMPLE_RATE
    heard = _heard(result.events)
    checked = 0
    for i, (start, _, event) in enumerate(heard):
        # Only onsets after silence can be found in the signal (an ack follows a cut at once).
        if any(s < start and end > start - 0.25 for s, end, _ in heard[:i]):
            continue
        lo, hi = int((start - 0.25) * rate), int((start + 0.25) * rate)
        loud = np.flatnonzero(np.abs(audio[max(lo, 0):hi]) > 0.01)
        assert len(loud), f"nothing audible near {start:.2f} s ({event.text or event.extra})"
        onset = (max(lo, 0) + loud[0]) / rate
        assert abs(onset - start) <= 0.050, (event.text, onset, start)
        checked += 1
    assert checked >= 10
    kinds = {e.type for _, _, e in heard}
    assert {"step", "cue", "response"} <= kinds


def test_the_wav_lasts_the_session_and_is_silent_between_cues(preview):
    result, wav, _ = preview
    audio, rate = soundfile.read(wav, dtype="float32")
    heard = _heard(result.events)
    last_end = max(end for _, end, _ in heard)
    assert last_end <= len(audio) / rate <= last_end + 1.0
    covered = np.zeros(len(audio), dtype=bool)
    for start, end, _ in heard:
        covered[int(start * rate): int(end * rate) + int(0.02 * rate)] = True
    assert np.max(np.abs(audio[~covered])) < 0.002        # nothing sounds off the timeline


def test_subtitles_say_what_is_said_when(preview):
    result, _, vtt = preview
    text = vtt.read_text(encoding="utf-8")
    assert text.startswith("WEBVTT\n\n")
    blocks = [b for b in text.split("\n\n")[1:] if b.strip()]
    heard = _heard(result.events)
    assert len(blocks) == len(heard)
    stamp = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)$")
    by_start = sorted(heard, key=lambda h: h[0])
    for block, (start, _, event) in zip(blocks, by_start):
        _, times, caption = block.split("\n", 2)
        h, m, s, ms, *_ = map(int, stamp.match(times).groups())
        assert abs(h * 3600 + m * 60 + s + ms / 1000 - start) <= 0.001
        if event.extra.get("earcon"):
            assert caption.startswith("[") and "tone]" in caption
        else:
            assert caption.startswith(event.text.strip())


def test_texts_known_in_advance_are_rendered_before_the_session(preview):
    result, _, _ = preview
    assert result.prerender.texts > 20
    from voicecoach.script import load_script
    from voicecoach.session import speakable_texts
    known = {" ".join(t.split()) for t in speakable_texts(load_script(SCRIPT))}
    said = {" ".join(e.text.split()) for _, _, e in _heard(result.events) if e.text}
    unknown = said - known
    assert any("left" in t for t in unknown)     # the status answer: only known on the spot
    # Everything known in advance came from the cache; only the rest was rendered on demand.
    assert len(result.on_demand) == len(unknown)


def test_write_timeline_places_and_cuts_by_the_events(tmp_path, cache):
    events = [
        TimelineEvent(0.5, "step", "running", "Stand tall.", step=1,
                      extra={"utterance": 1, "duration": 1.0, "earcon": None}),
        TimelineEvent(2.0, "cue", "running", "Keep your hands free.", step=1,
                      extra={"utterance": 2, "duration": 1.5, "earcon": None}),
        TimelineEvent(2.4, "dropped", "running", "Keep your hands free.", step=1,
                      extra={"utterance": 2, "reason": "interrupted"}),
        TimelineEvent(2.4, "response", "running", "", step=1,
                      extra={"utterance": 3, "duration": 0.07, "earcon": "ack"}),
    ]
    with Renderer(VoiceSettings(rate=160), cache) as r:
        placed = write_timeline(events, sounds_from(r), WavSink(tmp_path / "t.wav"))
    audio, rate = soundfile.read(tmp_path / "t.wav", dtype="float32")
    assert [p.start for p in placed] == [int(0.5 * rate), int(2.0 * rate), int(2.4 * rate)]
    cue = placed[1]
    assert cue.cut and cue.end == int(2.4 * rate) + int(0.010 * rate)
    ack = earcons.load("ack")
    after = audio[cue.end: int(2.4 * rate) + len(ack)]
    assert np.max(np.abs(after - ack[cue.end - int(2.4 * rate):])) < 2 / 32768   # only the ack
    assert "[ack tone]" in webvtt(placed) and "[cut]" in webvtt(placed)


# --- the commands ---------------------------------------------------------------------------

def test_render_command_writes_the_wav_and_subtitles(tmp_path, cache, monkeypatch, capsys):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(cache))
    wav, vtt = tmp_path / "p.wav", tmp_path / "p.vtt"
    status = cli.main(["render", str(SCRIPT), "-o", str(wav), "--subtitles", str(vtt),
                       "--say", "0:04 go", "--say", "1:30 how long"])
    assert status == 0
    out = capsys.readouterr().out
    assert "real time" in out and str(wav) in out
    assert soundfile.info(wav).duration > 60 and vtt.read_text().startswith("WEBVTT")


def test_render_command_voice_overrides_change_the_audio(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(cache))
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    base = ["render", str(SCRIPT), "--say", "0:04 go", "--say", "0:20 stop", "--say", "0:22 yes"]
    assert cli.main(base + ["-o", str(a)]) == 0
    assert cli.main(base + ["-o", str(b), "--rate", "220", "--volume", "0.5"]) == 0
    x, _ = soundfile.read(a, dtype="float32")
    y, _ = soundfile.read(b, dtype="float32")
    assert np.max(np.abs(y)) < np.max(np.abs(x))          # quieter
    assert len(y) < len(x)                                # faster speech, shorter session


def test_render_command_reports_an_unknown_voice_without_a_traceback(tmp_path, cache,
                                                                      monkeypatch, capsys):
    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(cache))
    status = cli.main(["render", str(SCRIPT), "-o", str(tmp_path / "x.wav"),
                       "--voice", "qq-nosuch", "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2
    assert "qq-nosuch" in err and "pyttsx3" in err and "espeak-ng" in err
    assert "Traceback" not in err


def test_voices_command_lists_ids_names_languages(capsys):
    assert cli.main(["voices", "--language", "en"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.split()[2].startswith("en") or "en" in line for line in lines)
    assert any(line.startswith("gmw/en") for line in lines)


def test_without_commands_the_preview_says_go_after_the_welcome_and_plays_the_program(
        tmp_path, cache, preview):          # `preview` first: its renders fill the shared cache
    result = render_preview(SCRIPT, tmp_path / "all.wav", cache=cache)
    t, phrase = result.auto_go
    welcome = next(e for e in result.events if "utterance" in e.extra)
    assert phrase == "go" and t > welcome.t + welcome.extra["duration"]
    steps = [e for e in result.events if e.type == "step"]
    assert len(steps) >= 4                        # every step of the program is announced
