"""`voicecoach bench soak`: an hour of people talking near the treadmill, with no command in
it, through the whole coach (`voicecoach run --input HOUR.wav --fast --earbuds`), counting what
the coach acted on.

The hour is built the same way every time (seed 13) from the speech data's folders:
- one real "go" (commands-dev) 2 s in, so that the session is running, as in a workout;
- then every clip of negatives-dev and negatives-train (other single words, sentences), cut to
  their speech and shuffled: about a third in runs of 2-6 words 0.15-0.5 s apart (talk,
  counting), the rest alone, 1.5-8 s apart; each run or word at its own level (-24 dBFS
  +4/-8 dB: near and far talkers), the pool reshuffled when it runs out;
- over four beds of a quarter hour each: the microphone's own floor (quiet), the exercise
  bike, doing the dishes, the running tap (noise-dev), each 10 dB below the nominal speech
  level.
Everything the coach heard as a command after the opening "go" is a false command.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from .errors import UserError
from .events import COMMAND, STATE
from .listen.audio import ENGINE_RATE, load_mono_16k
from .listen.bench import active_rms, looped, read_manifest, speech_span

SEED = 13
HOUR = 3600.0
SPEECH_DBFS = -24.0          # nominal active level of a talker
NOISE_BELOW = 10.0           # dB the noise beds sit below it
BEDS = ("quiet", "exercise_bike_a", "doing_the_dishes", "running_tap")
MIC_FLOOR = 5e-4             # the quiet bed: a microphone's self-noise (as track.MIC_NOISE_FLOOR)
OPENING = 2.0                # seconds in, the one real command

SOAK_SCRIPT = """\
title: Soak hour
language: en
units: mph
steps:
  - name: Walk
    duration: 70m
    speed: 2.0
    cues:
      - {every: 5m, say: Keep your posture tall.}
"""


def _trim(x: np.ndarray, pad: float = 0.05) -> np.ndarray:
    """A clip cut to its speech and `pad` either side."""
    a, b = speech_span(x)
    p = int(pad * ENGINE_RATE)
    return x[max(0, a - p):min(len(x), b + p)]


def build_hour(data: str | Path, seconds: float = HOUR, seed: int = SEED,
               opening: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """The soak recording (16 kHz mono float32) and what is in it. `opening`: the command
    that starts the session (default: a real "go" from commands-dev)."""
    data = Path(data)
    rng = random.Random(seed)
    pool = []
    for folder in ("negatives-dev", "negatives-train"):
        manifest = data / folder / "manifest.csv"
        if not manifest.is_file():
            raise UserError(f"{manifest}: missing (the soak hour is built from {data}'s "
                            "negatives-dev, negatives-train and noise-dev)")
        pool += read_manifest(manifest, is_command=False)
    go = next(c for c in read_manifest(data / "commands-dev" / "manifest.csv", True)
              if c.word == "go")
    n = int(seconds * ENGINE_RATE)
    speech = np.zeros(n, np.float32)
    level = 10 ** (SPEECH_DBFS / 20)

    def place(x: np.ndarray, at: int, gain_db: float | None) -> int:
        if gain_db is not None:     # None: at its own level
            x = x * (level * 10 ** (gain_db / 20) / active_rms(x))
        end = min(n, at + len(x))
        speech[at:end] += x[:end - at]
        return end

    clips = {c.path: _trim(load_mono_16k(c.path)) for c in pool}
    # A given opening (the synthetic user) keeps its own level; the real "go" is a talker's.
    go_end = place(_trim(load_mono_16k(go.path) if opening is None else opening),
                   int(OPENING * ENGINE_RATE), 0.0 if opening is None else None)
    pos = go_end + int(3.0 * ENGINE_RATE)
    order: list = []
    said: list[tuple[float, str, str]] = []    # (start, word, clip) of everything said
    counts = Counter()
    while pos < n:
        if not order:
            order = list(pool)
            rng.shuffle(order)
        words = 1 if rng.random() > 0.35 else rng.randint(2, 6)
        gain = rng.uniform(-8.0, 4.0)
        for i in range(words):
            if not order or pos >= n:
                break
            clip = order.pop()
            said.append((pos / ENGINE_RATE, clip.word, str(clip.path.relative_to(data))))
            pos = place(clips[clip.path], pos, gain)
            counts["words" if clip.word != "_sentence_" else "sentences"] += 1
            if i < words - 1:
                pos += int(rng.uniform(0.15, 0.5) * ENGINE_RATE)
        counts["runs" if words > 1 else "alone"] += 1
        pos += int(rng.uniform(1.5, 8.0) * ENGINE_RATE)

    # The noise beds, a quarter each, crossfaded over half a second.
    noise_level = level / 10 ** (NOISE_BELOW / 20)
    bed = np.zeros(n, np.float32)
    quarter = n // len(BEDS)
    fade = ENGINE_RATE // 2
    np_rng = np.random.default_rng(seed)
    for i, name in enumerate(BEDS):
        a, b = i * quarter, n if i == len(BEDS) - 1 else (i + 1) * quarter
        a0, b1 = max(0, a - fade), min(n, b + fade)
        if name == "quiet":
            part = np_rng.normal(0, MIC_FLOOR, b1 - a0).astype(np.float32)
        else:
            noise = load_mono_16k(data / "noise-dev" / f"{name}.wav")
            part = looped(noise, b1 - a0) * (noise_level / np.sqrt(np.mean(noise ** 2)))
        w = np.ones(b1 - a0, np.float32)
        w[:a - a0] = np.linspace(0, 1, a - a0)
        w[len(w) - (b1 - b):] = np.linspace(1, 0, b1 - b)
        bed[a0:b1] += part * w
    stream = np.clip(speech + bed, -1, 1)
    info = {"seconds": round(seconds), "opening_go_end": round(go_end / ENGINE_RATE, 2),
            "beds": {name: [round(i * quarter / ENGINE_RATE), round(
                (n if i == len(BEDS) - 1 else (i + 1) * quarter) / ENGINE_RATE)]
                for i, name in enumerate(BEDS)},
            **dict(counts), "said": said}
    return stream, info


def _said_at(said: list, t: float) -> str:
    """What was said where a false command was heard: a word, or noise between words."""
    before = [(start, word) for start, word, _ in said if start <= t + 0.3]
    if not before or t - before[-1][0] > 1.2:
        return "(noise)"
    return before[-1][1]


def count(log_lines: list[dict], opening_end: float, seconds: float, beds: dict,
          said: list = ()) -> dict:
    """The soak's figures from `run --log`'s lines."""
    heard = [e for e in log_lines if e.get("type") == "heard"]
    opening = [e for e in heard if e["t_audio_start"] < opening_end + 0.5]
    false = [e for e in heard if e["t_audio_start"] >= opening_end + 0.5]
    per_hour = HOUR / seconds

    def bed_of(t: float) -> str:
        return next(name for name, (a, b) in beds.items() if a <= t < b or name == BEDS[-1])

    answers = [e for e in log_lines if e.get("type") == COMMAND and e.get("intent") is None]
    states = [e for e in log_lines if e.get("type") == STATE]
    ended = next((e for e in states if e.get("state") == "finished" and e["t"] < seconds), None)
    paused = [e for e in states if e.get("state") in ("paused", "confirming_end")]
    return {
        "opening_go_taken": bool(opening) and opening[0]["intent"] == "go",
        "false_commands_per_hour": round(len(false) * per_hour, 1),
        "false_by_intent": dict(Counter(e["intent"] for e in false).most_common()),
        "false_by_bed": dict(Counter(bed_of(e["t_audio_start"]) for e in false).most_common()),
        "false_heard_as": [f'{e["t_audio_start"]:.1f}s {e["intent"]} ("{e["text"]}") '
                           f'<- {_said_at(said, e["t_audio_start"])}' for e in false][:20],
        "not_understood_per_hour": round(len(answers) * per_hour, 1),
        "session_ended_at": None if ended is None else round(ended["t"], 1),
        "session_held": len(paused),
        "rejected": dict(Counter(e["reason"] for e in log_lines
                                 if e.get("type") == "rejected").most_common()),
    }


def run(data: str | Path, engine: str | None = None, seconds: float = HOUR,
        wake_word: str | None = None, keep_log: str | Path | None = None,
        progress=print) -> dict:
    """Build the hour, run the coach on it, and count. With a wake word, the opening is
    "<wake word>, go" in the synthetic user's voice (there is no recording of it)."""
    from .cli import main
    from .models import DATA_DIR_ENV
    t0 = time.perf_counter()
    opening = None
    if wake_word:
        from .listen.audio import StreamConverter
        from .speak import SAMPLE_RATE
        from .track import build_track
        opening = StreamConverter(SAMPLE_RATE).convert(build_track([(0.0, f"{wake_word}, go")]))
    stream, info = build_hour(data, seconds, opening=opening)
    progress(f"soak: {info['seconds']} s built in {time.perf_counter() - t0:.0f} s "
             f"({info.get('words', 0)} words, {info.get('sentences', 0)} sentences)")
    with tempfile.TemporaryDirectory(prefix="voicecoach-soak-") as work:
        work = Path(work)
        import soundfile as sf
        sf.write(work / "hour.wav", stream, ENGINE_RATE, subtype="PCM_16")
        del stream
        (work / "soak.yaml").write_text(SOAK_SCRIPT)
        argv = ["run", str(work / "soak.yaml"), "--input", str(work / "hour.wav"), "--fast",
                "--earbuds", "--log", str(work / "log.jsonl"), "--no-journal", "-q",
                *(["--engine", engine] if engine else []),
                *(["--wake-word", wake_word] if wake_word else [])]
        saved = os.environ.get(DATA_DIR_ENV)
        os.environ[DATA_DIR_ENV] = str(work / "data")
        t1 = time.perf_counter()
        try:
            status = main(argv)
        finally:
            if saved is None:
                os.environ.pop(DATA_DIR_ENV, None)
            else:
                os.environ[DATA_DIR_ENV] = saved
        if status != 0:
            raise UserError(f"the soak run failed (exit status {status})")
        if keep_log:
            shutil.copyfile(work / "log.jsonl", keep_log)
        lines = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    figures = count(lines, info["opening_go_end"], seconds, info["beds"], info.pop("said"))
    return {"engine": engine or "default", "wake_word": wake_word, "audio_seconds": info["seconds"],
            "run_seconds": round(time.perf_counter() - t1, 1), **figures,
            "built_from": info}
