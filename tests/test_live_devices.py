"""`voicecoach run` live, in real time, through real audio devices: a private PulseAudio server
whose virtual microphone hears a recorded command track and whose virtual earbuds are recorded.
Nothing is simulated here but the room: sounddevice, PortAudio, ALSA, the recogniser, the
session, the synthesiser and the player all run for real."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicecoach.virtual_audio import VirtualAudio
from voicecoach.speak import SAMPLE_RATE
from voicecoach.speak.tts import Renderer, VoiceSettings, resample
from voicecoach.script import load_script
from voicecoach.track import build_track, write_track

SCRIPT = """\
title: Live check
cue_gap: 1s
steps:
  - name: Hands free
    duration: 12s
    speed: 1.0
    cues:
      - at: 3s
        say: Let go of the rails.
  - name: Stand tall
    duration: 30s
    speed: 1.2
"""



def wait_for(predicate, timeout: float, what: str):
    """Poll for a condition of another process (not a sleep standing in for one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def log_records(path):
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def best_match(recording: np.ndarray, sound: np.ndarray) -> float:
    """Peak normalised cross-correlation of `sound` within `recording` (1.0: found exactly)."""
    n = len(recording) + len(sound)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(recording, size) * np.conj(np.fft.rfft(sound, size)), size)
    # Energy of the recording under the sound at each lag (a sliding sum, in linear time).
    energy = np.concatenate([[0.0], np.cumsum(recording.astype(np.float64) ** 2)])
    ends = np.minimum(np.arange(len(recording)) + len(sound), len(recording))
    window = energy[ends] - energy[:len(recording)]
    # Correlation over near-silence is meaningless (it divides by almost nothing): a window
    # quieter than 1 % of the sound's own energy counts as that 1 %.
    own = np.sum(sound.astype(np.float64) ** 2)
    denom = np.sqrt(np.maximum(window, 0.01 * own) * own)
    return float(np.max(corr[:len(recording)] / denom))


# These sessions listen with Whisper, the default engine, as a user's would.
def test_a_live_session_through_real_audio_devices(pulse, tmp_path, clear_clips_at):
    clear_clips = clear_clips_at(pulse.rate)
    script = tmp_path / "live.yaml"
    script.write_text(SCRIPT)
    # The user waits for the welcome to end before "go" (with speakers, the coach doesn't
    # listen while it talks), then stops the session during step 2 and confirms.
    track = tmp_path / "user.wav"
    write_track(track, build_track([(5.0, f"@{clear_clips['go']}"),
                                    (27.0, f"@{clear_clips['stop']}"),   # after step 2's announcement
                                    (34.0, f"@{clear_clips['yes']}")]))  # after the question
    log, earbuds = tmp_path / "live.jsonl", tmp_path / "earbuds.wav"
    with pulse.recording_earbuds(earbuds):
        coach = subprocess.Popen(
            [sys.executable, "-m", "voicecoach.cli", "run", str(script), "--input-device", "pulse",
             "--output-device", "pulse", "--log", str(log), "-q"],
            env=pulse.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # The user starts when the coach starts its welcome; "go" comes after the welcome.
            welcome = wait_for(lambda: next((r for r in log_records(log) if r["type"] == "response"
                                             and r["text"].startswith("Live check")), None),
                               60, "the welcome")
            assert welcome["duration"] < 4.5
            player = pulse.play_into_mic(track)
            try:
                out, err = coach.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                coach.kill()
                pytest.fail("the session did not finish; its log:\n" + log.read_text())
            player.wait(timeout=30)
        finally:
            if coach.poll() is None:
                coach.kill()
    assert coach.returncode == 0, err
    records = log_records(log)
    assert [r["intent"] for r in records if r["type"] == "command"] == ["go", "stop", "yes"]
    assert [r["text"] for r in records if r["type"] == "state"] == [
        "ready", "running", "confirming_end", "finished"]
    assert "commands understood 3" in err
    # The cue and the step announcements were heard in the earbuds.
    recording, rate = sf.read(earbuds, dtype="float32")
    renderer = Renderer(VoiceSettings.for_script(load_script(script)))
    try:
        for text in ("Let go of the rails.",
                     "Step 2 of 2: Stand tall. Set the treadmill to 1.2 miles per hour."):
            sound = resample(renderer.render(text), SAMPLE_RATE, rate)
            assert best_match(recording, sound) > 0.95, text     # measured: 0.998 and more
        # ...and something never said is not found: the measure can fail (measured: ≈ 0.3).
        absent = resample(renderer.render("Swing your arms."), SAMPLE_RATE, rate)
        assert best_match(recording, absent) < 0.9
    finally:
        renderer.close()


def test_devices_lists_the_virtual_devices(pulse):
    out = subprocess.run([sys.executable, "-m", "voicecoach.cli", "devices", "--json"],
                         env=pulse.env(), capture_output=True, text=True, check=True).stdout
    devices = [json.loads(l) for l in out.splitlines()]
    pulse_dev = next(d for d in devices if d["name"] == "pulse")
    assert pulse_dev["inputs"] > 0 and pulse_dev["outputs"] > 0


def test_no_microphone_is_a_clear_error(tmp_path):
    env = VirtualAudio().env()          # a server that was never started: no devices at all
    (tmp_path / "x.yaml").write_text(SCRIPT)
    result = subprocess.run([sys.executable, "-m", "voicecoach.cli", "run",
                             str(tmp_path / "x.yaml")], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "no audio input device found" in result.stderr and "Traceback" not in result.stderr


def test_devices_lost_mid_session_pause_it_and_it_carries_on(tmp_path, clear_clips):
    """The sound server is killed during a session (microphone and earbuds vanish): the session
    pauses, the log says so, the coach keeps trying, and once the devices are back the user's
    "go" carries on. No crash, nothing lost from the log."""
    audio = VirtualAudio().start()
    script = tmp_path / "live.yaml"
    script.write_text(SCRIPT.replace("12s", "60s"))
    go = tmp_path / "go.wav"
    write_track(go, build_track([(0.3, f"@{clear_clips['go']}")]))
    end = tmp_path / "end.wav"
    write_track(end, build_track([(0.3, f"@{clear_clips['stop']}"),
                                  (5.5, f"@{clear_clips['yes']}")]))
    log = tmp_path / "lost.jsonl"
    coach = subprocess.Popen(
        [sys.executable, "-m", "voicecoach.cli", "run", str(script), "--earbuds",
         "--input-device", "pulse", "--output-device", "pulse", "--log", str(log), "-q"],
        env=dict(audio.env(), VOICECOACH_DATA_DIR=str(tmp_path / "data")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def seen(kind, text):
        return any(r["type"] == kind and text in r["text"] for r in log_records(log))
    try:
        wait_for(lambda: seen("state", "ready"), 60, "the session")
        audio.play_into_mic(go).wait(timeout=30)
        wait_for(lambda: seen("state", "running"), 30, "go")
        audio.kill()
        wait_for(lambda: seen("device", "lost") and seen("state", "paused"), 30, "the loss")
        audio.start()                                   # the devices come back
        wait_for(lambda: seen("device", "microphone back"), 30, "the microphone")
        wait_for(lambda: seen("device", "audio output back") or
                 not seen("device", "audio output lost"), 30, "the output")
        audio.play_into_mic(go).wait(timeout=30)
        wait_for(lambda: [r["text"] for r in log_records(log) if r["type"] == "state"][-1]
                 == "running", 30, "carrying on")
        audio.play_into_mic(end).wait(timeout=30)
        out, err = coach.communicate(timeout=60)
    except (AssertionError, subprocess.TimeoutExpired):
        coach.kill()
        pytest.fail("the session did not come through; its log:\n" + log.read_text())
    finally:
        audio.stop()
    assert coach.returncode == 0 and "Traceback" not in err, err
    records = log_records(log)
    states = [r["text"] for r in records if r["type"] == "state"]
    assert states[:3] == ["ready", "running", "paused"] and states[-1] == "finished"
    assert "running" in states[3:]
    commands = [(r["intent"], r["text"]) for r in records if r["type"] == "command"]
    assert commands[0] == ("go", "go") and commands[1][0] == "pause" and "lost" in commands[1][1]
    said = [r["text"] for r in records if r["type"] == "response"]
    assert any(t.startswith("I've lost the") for t in said)       # the coach says so
    assert [i for i, _ in commands[2:]] == ["go", "stop", "yes"]
    # The journal holds the same events as the log, the device errors among them.
    session, events = journaled(tmp_path / "data")
    assert [(e["type"], e["text"]) for e in events] == [(r["type"], r["text"]) for r in records]
    assert [e["text"] for e in events if e["type"] == "device"][0].startswith("microphone lost") \
        or any(e["text"].startswith("audio output lost") for e in events if e["type"] == "device")
    assert session.outcome == "ended_early"


def journaled(data: Path):
    """The one session in the journal of `data`, and its events."""
    from voicecoach import journal
    db = journal.connect(data / journal.FILE_NAME)
    try:
        (session,) = journal.sessions(db)
        return session, list(journal.events(db, session.id))
    finally:
        db.close()


def test_ctrl_c_ends_the_session_cleanly_with_a_summary(pulse, tmp_path, clear_clips):
    """A recording played as the microphone in real time (--input without --fast); Ctrl-C in
    the middle of a step ends the session, and the summary and the log are complete."""
    import signal
    script = tmp_path / "live.yaml"
    script.write_text(SCRIPT)
    track = tmp_path / "user.wav"
    write_track(track, build_track([(0.5, f"@{clear_clips['go']}")], tail=30.0))
    log = tmp_path / "ctrlc.jsonl"
    coach = subprocess.Popen(
        [sys.executable, "-m", "voicecoach.cli", "run", str(script), "--input", str(track),
         "--earbuds", "--output-device", "pulse", "--log", str(log), "-q"],
        env=dict(pulse.env(), VOICECOACH_DATA_DIR=str(tmp_path / "data")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: any(r["type"] == "cue" for r in log_records(log)), 60, "the first cue")
        coach.send_signal(signal.SIGINT)
        out, err = coach.communicate(timeout=30)
    finally:
        if coach.poll() is None:
            coach.kill()
    assert coach.returncode == 130, err       # Ctrl-C's one rule (docs/live.md)
    assert "Traceback" not in err
    assert "Live check: finished; worked 0:0" in err and "commands understood 1" in err
    records = log_records(log)
    assert [r["text"] for r in records if r["type"] == "state"] == ["ready", "running", "finished"]
    assert records[-1]["type"] == "response" and records[-1]["text"].startswith("Session ended after")
    # Interrupted, not ended: the journal offers it to `voicecoach resume`, in step 1.
    session, events = journaled(tmp_path / "data")
    assert session.outcome == "interrupted" and session.resumable
    assert session.progress["step_index"] == 0 and session.progress["position"] > 0
    assert len(events) == len(records)


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_the_microphone_opens_at_a_headsets_rate(pulse, tmp_path, rate):
    """A Bluetooth headset's microphone runs at 8 or 16 kHz: the microphone input opens at that
    rate through the real device chain and delivers the sound played into it, at pitch."""
    wav = tmp_path / "tone.wav"
    t = np.arange(16000) / 16000
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000, subtype="PCM_16")
    code = f"""
import subprocess, numpy as np
from voicecoach.live import MicrophoneInput
mic = MicrophoneInput("pulse", rate={rate})
player = subprocess.Popen(["paplay", "--device=mic_feed", {str(wav)!r}])
blocks = []
while player.poll() is None or len(blocks) < 5:
    b = mic.read(0.5)
    if b is not None:
        blocks.append(b[:, 0])
mic.close()
np.save({str(tmp_path / "got.npy")!r}, np.concatenate(blocks))
print(mic.rate)
"""
    out = subprocess.run([sys.executable, "-c", code], env=pulse.env(), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) == rate
    x = np.load(tmp_path / "got.npy")
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    assert abs(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)] - 440) < 5
