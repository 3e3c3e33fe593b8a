"""`voicecoach bench live`: end-to-end figures of a live session, measured from outside.

A private PulseAudio server gives real audio devices. A user track (a synthetic voice other
than the coach's) is played into a combined sink that feeds both the virtual microphone and the
virtual earbuds, and the earbuds are recorded: one recording holds the user's commands and the
coach's answers on one timeline. Latency is from the end of each command's speech to the first
sample of the answer in that recording, so it includes everything: input buffering, the
listener's end-pointing and decision, the session, the player and the output stream.

`voicecoach run` runs unchanged in its own process; its CPU time is read from /proc during a
quiet stretch (listening only) and over the whole session, its peak memory from its rusage.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import UserError
from .models import DATA_DIR_ENV
from .speak import SAMPLE_RATE
from .speak.tts import Renderer, VoiceSettings, resample
from .track import USER_VOICE, build_track, write_track

# No coaching cues: after a command, the only thing the coach says is its answer.
BENCH_SCRIPT = """\
title: Latency check
cue_gap: 1s
progression: {increment: 0.1, min_speed: 0.5, max_speed: 3.0}
steps:
  - name: Walk
    duration: 20m
    speed: 1.0
"""
COMMANDS = ["go", "faster", "slower", "how long", "speed up", "pause", "continue", "status",
            "faster", "slower", "time left", "pause", "go", "faster", "slower", "how long",
            "speed up", "slow down", "status", "stop", "no", "faster", "slower", "stop", "yes"]
SPACING = 10.0           # seconds between commands: the longest answer (status, ~7 s) is over
QUIET = 15.0             # a stretch with nobody talking, for the listening CPU figure
HEARD_LEVEL = 0.01       # |sample| that counts as sound (the floor is ~5e-4)
ANSWER_WITHIN = 2.0      # an answer later than this is not counted as one


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise UserError(f"bench live: timed out waiting for {what}")


def run(commands: list[str] = COMMANDS, voice: str = USER_VOICE, progress=print,
        engine: str | None = None) -> dict:
    from .virtual_audio import VirtualAudio, VirtualAudioUnavailable
    try:
        audio = VirtualAudio().start()
    except VirtualAudioUnavailable as e:
        raise UserError(f"bench live needs virtual audio devices: {e}") from None
    work = Path(tempfile.mkdtemp(prefix="voicecoach-bench-live-"))
    try:
        return _measure(audio, work, commands, voice, progress, engine)
    finally:
        audio.stop()


def _measure(audio, work: Path, commands: list[str], voice: str, progress,
             engine: str | None) -> dict:
    script = work / "latency.yaml"
    script.write_text(BENCH_SCRIPT)
    # The user's track: each command, and where its speech ends (from the rendered audio).
    half = len(commands) // 2
    says, ends = [], []
    with Renderer(VoiceSettings(name=voice, rate=150)) as renderer:
        t = 1.0
        for i, phrase in enumerate(commands):
            sound = renderer.render(phrase)
            loud = np.flatnonzero(np.abs(sound) > HEARD_LEVEL)
            says.append((t, phrase))
            ends.append(t + (loud[-1] + 1) / SAMPLE_RATE)
            t += SPACING + (QUIET if i == half else 0.0)
        quiet = (ends[half] + 3.0, ends[half] + QUIET)      # after the answer, before the next
        track = build_track(says, renderer=renderer)
        first = resample(renderer.render(commands[0]), SAMPLE_RATE, audio.rate)
    track_wav, log, recording = work / "user.wav", work / "live.jsonl", work / "earbuds.wav"
    write_track(track_wav, track)

    progress(f"bench live: {len(commands)} commands over {len(track) / SAMPLE_RATE:.0f} s "
             "of real time through virtual devices...")
    with audio.recording_earbuds(recording):
        coach = subprocess.Popen(
            [sys.executable, "-m", "voicecoach.cli", "run", str(script), "--earbuds",
             "--input-device", "pulse", "--output-device", "pulse", "--log", str(log), "-q",
             *(["--engine", engine] if engine else [])],
            # Its own data dir: the benchmark's session must not land in the user's journal,
            # where `resume` would offer it.
            env={**audio.env(), DATA_DIR_ENV: str(work / "data")},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: log.exists() and '"ready"' in log.read_text(), 60, "the coach")
            time.sleep(1.0)     # the welcome plays; the user waits a moment, as people do
            started = time.monotonic()
            player = audio.play_into_mic(track_wav, also_to_earbuds=True)
            cpu_start = _cpu_seconds(coach.pid)
            q0 = q1 = None
            while player.poll() is None:
                now = time.monotonic() - started
                if q0 is None and now >= quiet[0]:
                    q0 = (now, _cpu_seconds(coach.pid))
                if q1 is None and now >= quiet[1]:
                    q1 = (now, _cpu_seconds(coach.pid))
                time.sleep(0.05)
            cpu_end, wall = _cpu_seconds(coach.pid), time.monotonic() - started
            _, status, usage = os.wait4(coach.pid, 0)
            coach.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if coach.poll() is None:
                coach.kill()
    if coach.returncode != 0:
        raise UserError(f"bench live: the coach failed: {coach.stderr.read()[-500:]}")

    rec, rate = _read(recording)
    # Where the track starts in the recording: its first phrase, matched.
    search = rec[: int(rate * 6)]
    corr = np.correlate(search, first, mode="valid")
    offset = int(np.argmax(corr)) / rate - says[0][0]
    heard = [json.loads(l) for l in log.read_text().splitlines() if '"heard"' in l]
    # A command said while the coach was still talking has no clean onset to measure: the
    # recording must be silent just before the command starts (reported, not hidden).
    def silent_before(t: float) -> bool:
        a = int((offset + t) * rate)
        return np.abs(rec[max(0, a - int(0.3 * rate)):a]).max() < HEARD_LEVEL
    per_command = [(phrase, answer_latency_ms(rec, rate, offset + end) if silent_before(start)
                    else "overlapped") for (start, phrase), end in zip(says, ends)]
    latencies = [ms for _, ms in per_command if isinstance(ms, float)]
    # The listener's share: from the end of speech to its decision, on the microphone's clock;
    # and how far behind the session's clock the audio was when it was decided (input
    # buffering, and any backlog of work).
    behind = [round((h["t"] - h["t_audio"]) * 1000, 1) for h in heard]
    decide = [round((h["t_audio_decided"] - h["t_audio_end"]) * 1000, 1) for h in heard]
    ms = sorted(latencies)
    return {
        "commands": len(commands),
        "understood": len(heard),
        "answered": len(ms),
        "overlapped": sum(1 for _, v in per_command if v == "overlapped"),
        "latency_ms_p50": round(statistics.median(ms), 1) if ms else None,
        "latency_ms_p95": round(ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))], 1) if ms else None,
        "latency_ms_max": round(ms[-1], 1) if ms else None,
        "cpu_share_listening": round((q1[1] - q0[1]) / (q1[0] - q0[0]), 4) if q0 and q1 else None,
        "cpu_share_session": round((cpu_end - cpu_start) / wall, 4),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "listener_decision_ms_p50": statistics.median(decide) if decide else None,
        "listener_decision_ms_max": max(decide) if decide else None,
        "audio_behind_ms_p50": statistics.median(behind) if behind else None,
        "audio_behind_ms_max": max(behind) if behind else None,
        "per_command_ms": [[p, round(v, 1) if isinstance(v, float) else v] for p, v in per_command],
        "mode": "earbuds (barge-in), PulseAudio null sinks through ALSA",
    }


def answer_latency_ms(rec: np.ndarray, rate: int, speech_end: float) -> float | None:
    """Milliseconds from `speech_end` to the first sound after it that follows a silence: the
    user's own last samples (resampled on the way) may still ring past the computed end; the
    coach cannot answer before the listener has heard some silence anyway."""
    a = int(speech_end * rate)
    window = np.abs(rec[a: a + int(ANSWER_WITHIN * rate)])
    hop = max(1, rate // 200)                                # 5 ms
    frames = [window[i:i + hop].max() for i in range(0, len(window) - hop, hop)]
    quiet = next((i for i in range(len(frames) - 3)
                  if max(frames[i:i + 4]) < HEARD_LEVEL), None)    # 20 ms of silence
    if quiet is None:
        return None
    loud = np.flatnonzero(window[quiet * hop:] > HEARD_LEVEL)
    return (quiet * hop + loud[0]) / rate * 1000 if len(loud) else None


def _read(path: Path) -> tuple[np.ndarray, int]:
    import soundfile
    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return data.mean(axis=1), rate
