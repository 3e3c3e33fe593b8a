"""The live coach end to end: recordings of real people (and synthetic users) in, the real
recogniser, the session, and the coach's rendered speech out; in virtual time here, and in real
time through virtual audio devices in test_live_devices.py."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import SCRIPTS
from voicecoach.cli import main

SHORT_SCRIPT = """\
title: Short walk
cue_gap: 1s
steps:
  - name: First
    duration: 20s
    speed: 1.0
    cues:
      - at: 4s
        say: Let go of the rails.
  - name: Second
    duration: 20s
    speed: 1.2
    cues:
      - at: 3s
        say: Stand tall.
"""


def make_track(tmp_path: Path, says: list[tuple[float, str]], name="user.wav") -> Path:
    from voicecoach.track import build_track, write_track
    path = tmp_path / name
    write_track(path, build_track(says))
    return path


def run_fast(tmp_path, script: Path, track: Path, *extra: str, name="run"):
    out, log = tmp_path / f"{name}-coach.wav", tmp_path / f"{name}.jsonl"
    status = main(["run", str(script), "--input", str(track), "--fast", "--json",
                   "--output", str(out), "--log", str(log), *extra])
    records = [json.loads(l) for l in log.read_text().splitlines()]
    return status, records, out


def commands_in(records) -> list:
    return [r["intent"] for r in records if r["type"] == "command"]


def test_real_voices_drive_a_whole_session(tmp_path, clear_clips, capsys):
    script = tmp_path / "short.yaml"
    script.write_text(SHORT_SCRIPT)
    track = make_track(tmp_path, [(1.0, f"@{clear_clips['go']}"), (9.0, f"@{clear_clips['up']}"),
                                  (24.0, f"@{clear_clips['down']}"), (30.0, f"@{clear_clips['stop']}"),
                                  (34.0, f"@{clear_clips['yes']}")])
    status, records, out = run_fast(tmp_path, script, track, "--earbuds")
    assert status == 0
    assert commands_in(records) == ["go", "faster", "slower", "stop", "yes"]
    states = [r["text"] for r in records if r["type"] == "state"]
    assert states == ["ready", "running", "confirming_end", "finished"]
    said = [r["text"] for r in records if r["type"] in ("step", "cue", "response") and r["text"]]
    assert "Faster: 1.2 miles per hour." in said and "Let go of the rails." in said
    # The log has both clocks and the recogniser's confidence for what it heard.
    heard = [r for r in records if r["type"] == "heard"]
    assert len(heard) == 5 and all(0 < r["confidence"] <= 1 and r["t_audio_end"] <= r["t"]
                                   for r in heard)
    # The recording of the coach lines up with the input: the step announcement starts when
    # the timeline says.
    coach, rate = sf.read(out, dtype="float32")
    step = next(r for r in records if r["type"] == "step")
    at = int(step["t"] * rate)
    assert np.abs(coach[at:at + rate // 2]).max() > 0.05
    assert np.abs(coach[at - rate // 4:at - rate // 20]).max() < 0.01
    summary = capsys.readouterr().err
    assert "commands understood 5, not understood 0" in summary


def test_the_coach_does_not_obey_its_own_voice(tmp_path, clear_clips):
    """With speakers, a cue full of command words reaches the microphone and triggers nothing;
    the same echo with --earbuds (no muting) would: so the muting is what protects."""
    script = tmp_path / "echo.yaml"
    script.write_text(SHORT_SCRIPT.replace("Let go of the rails.",
                                           "Stop. Faster. Slower. Pause. Say stop or faster."))
    # "go" after the welcome: with speakers the coach does not listen while it talks.
    user = make_track(tmp_path, [(5.0, f"@{clear_clips['go']}")])
    # First pass: what the coach says, aligned to the user's track.
    _, first, coach_wav = run_fast(tmp_path, script, user, "--earbuds", name="first")
    assert commands_in(first) == ["go"]
    user_audio, rate = sf.read(user, dtype="float32")
    coach_audio, coach_rate = sf.read(coach_wav, dtype="float32")
    assert coach_rate == rate
    # The microphone hears the user and the coach from the speakers.
    n = max(len(user_audio), len(coach_audio))
    mic = np.zeros(n, np.float32)
    mic[:len(user_audio)] += user_audio
    mic[:len(coach_audio)] += 0.8 * coach_audio
    echo = tmp_path / "echo.wav"
    sf.write(echo, mic, rate, subtype="PCM_16")
    _, speakers, _ = run_fast(tmp_path, script, echo, name="speakers")
    assert commands_in(speakers) == ["go"]
    assert not [r for r in speakers if r["type"] == "command" and r["intent"] is None]
    _, earbuds, _ = run_fast(tmp_path, script, echo, "--earbuds", name="earbuds")
    assert len([i for i in commands_in(earbuds) if i]) > 1, "the echo holds no command words"


def test_a_synthetic_user_is_understood(tmp_path):
    script = tmp_path / "short.yaml"
    script.write_text(SHORT_SCRIPT)
    track = make_track(tmp_path, [(1.0, "go"), (8.0, "how long"), (15.0, "pause"),
                                  (20.0, "continue")])
    status, records, _ = run_fast(tmp_path, script, track, "--earbuds")
    assert commands_in(records) == ["go", "status", "pause", "go"]
    assert [r["text"] for r in records if r["type"] == "state"][-1] == "finished"


@pytest.mark.parametrize("argv,message", [
    (["--input", "missing.wav", "--fast"], "no such file"),
    (["--input", "{notaudio}", "--fast"], "not a readable audio file"),
    (["--fast"], "--fast needs --input WAV"),
])
def test_bad_input_is_a_clear_error(tmp_path, capsys, argv, message):
    notaudio = tmp_path / "notes.wav"
    notaudio.write_text("this is not sound")
    argv = [a.replace("{notaudio}", str(notaudio)).replace("missing.wav", str(tmp_path / "m.wav"))
            for a in argv]
    assert main(["run", str(SCRIPTS / "backwards-walk.yaml"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_track_refuses_overlapping_phrases(tmp_path, capsys):
    assert main(["track", str(tmp_path / "t.wav"), "--say", "0:01 what can I say",
                 "--say", "0:01.5 go"]) == 2
    assert "runs into the next one" in capsys.readouterr().err


def test_a_headsets_8khz_microphone_is_understood(tmp_path, clear_clips_at):
    """The recogniser path at a Bluetooth headset's 8 kHz: the listener converts."""
    from voicecoach.speak import SAMPLE_RATE
    from voicecoach.speak.tts import resample
    from voicecoach.track import build_track
    clips = clear_clips_at(8000)
    script = tmp_path / "short.yaml"
    script.write_text(SHORT_SCRIPT)
    track = build_track([(1.0, f"@{clips['go']}"), (9.0, f"@{clips['up']}")])
    narrow = tmp_path / "8k.wav"
    sf.write(narrow, resample(track, SAMPLE_RATE, 8000), 8000, subtype="PCM_16")
    status, records, _ = run_fast(tmp_path, script, narrow, "--earbuds")
    assert commands_in(records) == ["go", "faster"]


def test_the_status_line_shows_state_step_speed_time_and_what_was_heard(tmp_path, clear_clips):
    from voicecoach.clock import VirtualClock
    from voicecoach.listen.registry import make_engine
    from voicecoach.listen.listener import Listener
    from voicecoach.live import FileInput, LiveCoach
    from voicecoach.script import load_script
    from voicecoach.session import Session
    path = tmp_path / "short.yaml"
    path.write_text(SHORT_SCRIPT)
    script = load_script(path)
    track = make_track(tmp_path, [(1.0, f"@{clear_clips['go']}"), (9.0, f"@{clear_clips['up']}")])
    clock = VirtualClock()
    source = FileInput(track, clock)
    vocab = script.vocabulary()
    coach = LiveCoach(Session(script, clock), Listener(vocab, make_engine(vocab),
                      sample_rate=source.rate), source, clock, earbuds=True)
    lines = []
    coach.status = lines.append
    coach.run()
    during = next(l for l in lines if "step 1/2" in l and "✓" in l and "1.2" in l)
    state, step, speed, left, heard = during.split(" | ")
    assert state == "running" and step == "step 1/2 First" and speed == "1.2 miles per hour"
    assert re.fullmatch(r"0:\d\d\.\d left in step, 0:\d\d\.\d in all", left), left
    assert heard == 'heard "up" ✓'
    assert lines[-1].startswith("finished")


@pytest.mark.parametrize("where", ["script", "option"])
def test_in_wake_word_mode_only_commands_after_the_wake_word_count(tmp_path, where):
    # A noisy gym: "go" alone (someone else, or a word in talk) is not taken; "trainer, go" is.
    script = tmp_path / "short.yaml"
    script.write_text(SHORT_SCRIPT + ("wake_word: trainer\n" if where == "script" else ""))
    track = make_track(tmp_path, [(1.0, "go"), (5.0, "trainer, go"), (12.0, "faster"),
                                  (18.0, "trainer, faster")])
    extra = ("--wake-word", "trainer") if where == "option" else ()
    status, records, _ = run_fast(tmp_path, script, track, "--earbuds", *extra)
    assert status == 0
    heard = [(round(r["t_audio_start"]), r["text"]) for r in records if r["type"] == "heard"]
    assert [text for _, text in heard] == ["trainer go", "trainer faster"]
    assert heard[0][0] in (5, 6) and heard[1][0] in (18, 19)
    # Help speaks the phrases as they must be said.
    texts = [r["text"] for r in records if r["type"] == "state"]
    assert texts[-1] == "finished"


def test_a_wake_word_of_four_words_is_refused_at_its_line(tmp_path, capsys):
    script = tmp_path / "s.yaml"
    script.write_text(SHORT_SCRIPT + "wake_word: hey there my coach\n")
    assert main(["check", str(script)]) == 1
    err = capsys.readouterr().err
    assert f"{script}:" in err and "wake word" in err and "at most three words" in err
