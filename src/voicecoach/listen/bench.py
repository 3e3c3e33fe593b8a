"""`voicecoach bench listen`: every clip of two manifests played inside one continuous stream
(silence, or noise at a given SNR, between clips) through the streaming listener.

A clip's window runs from the middle of the gap before it to the middle of the gap after it;
the Command events whose speech falls in that window are the listener's answer to the clip.
Latency runs from the end of the clip's speech to the moment the listener, fed in real time,
has the decision (the end-pointer's hangover plus the work left at the end of speech).
"""
from __future__ import annotations

import csv
import random
from collections import Counter
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import UserError
from ..events import Command, Rejected
from .audio import ENGINE_RATE, AudioFileError, load_mono_16k
from .listener import Listener

GAP_SECONDS = 1.5
CHUNK = 320           # 20 ms, as the live microphone delivers blocks (live.BLOCK_SECONDS)


@dataclass(frozen=True)
class Clip:
    path: Path
    word: str             # expected intent; for a negative, a word outside the vocabulary
    is_command: bool


def read_manifest(path: str | Path, is_command: bool) -> list[Clip]:
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise UserError(f"{path}: cannot read manifest ({e.strerror})") from None
    if not rows or "path" not in rows[0] or "word" not in rows[0]:
        raise UserError(f"{path}: a manifest is a CSV file with the columns `path` and `word`")
    return [Clip(path.parent / r["path"], r["word"], is_command) for r in rows]


def speech_span(x: np.ndarray) -> tuple[int, int]:
    """Where the speech of a clean clip is (samples): from the first to the end of the last
    10 ms frame within 30 dB of the loudest."""
    n = len(x) // 160
    if n == 0:
        return 0, len(x)
    level = 10 * np.log10(np.mean(x[:n * 160].reshape(n, 160) ** 2, axis=1) + 1e-12)
    loud = np.nonzero(level > level.max() - 30)[0]
    return loud[0] * 160, (loud[-1] + 1) * 160


def speech_end(x: np.ndarray) -> float:
    """End of speech in a clean clip (seconds)."""
    return speech_span(x)[1] / ENGINE_RATE


def looped(noise: np.ndarray, n: int) -> np.ndarray:
    """`n` samples of a noise recording, repeated as often as it takes."""
    return np.tile(noise, int(np.ceil(n / len(noise))))[:n]


def lay_out(audio: list[np.ndarray], gaps: list[int]) -> tuple[np.ndarray, list[int]]:
    """One stream: gaps[0] of silence, clip, gaps[1], clip, ..., gaps[-1]; and where each
    clip starts (samples)."""
    starts, pos = [], gaps[0]
    for x, g in zip(audio, gaps[1:]):
        starts.append(pos)
        pos += len(x) + g
    stream = np.zeros(pos, np.float32)
    for s, x in zip(starts, audio):
        stream[s:s + len(x)] = x
    return stream, starts


def active_rms(x: np.ndarray) -> float:
    n = len(x) // 160
    frames = x[:n * 160].reshape(n, 160)
    power = np.mean(frames ** 2, axis=1)
    active = power[power > power.max() / 1000]   # within 30 dB of the loudest frame
    return float(np.sqrt(np.mean(active))) if len(active) else 1e-4


def run_engine(commands: list[Clip], negatives: list[Clip], vocabulary, engine: str | None = None,
               model=None, learned: bool = True, noise: np.ndarray | None = None,
               snr_db: float | None = None, noise_name: str | None = None) -> dict:
    """`run` with the engine a session would get (or the one named), and its load time."""
    from .registry import make_engine
    t0 = time.perf_counter()
    chosen = make_engine(vocabulary, engine, model, learned=learned)
    chosen.wait_ready()
    load = time.perf_counter() - t0
    result = run(commands, negatives, lambda: Listener(vocabulary, chosen), noise, snr_db)
    return {"engine": chosen.name, "model_load_seconds": round(load, 2), "noise": noise_name,
            **result}


def run(commands: list[Clip], negatives: list[Clip], make_listener: Callable[[], Listener],
        noise: np.ndarray | None = None, snr_db: float | None = None, seed: int = 0) -> dict:
    clips = commands + negatives
    random.Random(seed).shuffle(clips)
    audio = []
    for c in clips:
        try:
            audio.append(load_mono_16k(c.path))
        except AudioFileError as e:
            raise UserError(f"manifest clip {e}") from None
    gap = int(GAP_SECONDS * ENGINE_RATE)
    stream, starts = lay_out(audio, [gap] * (len(audio) + 1))
    pos = len(stream)
    if noise is not None:
        # Noise gain per clip for the SNR against that clip's speech level, ramped across the
        # gap before it so the level never jumps.
        gains = np.array([active_rms(x) / (np.sqrt(np.mean(noise ** 2)) + 1e-12)
                          / 10 ** (snr_db / 20) for x in audio])
        g = np.empty(pos, np.float32)
        prev = gains[0]
        for i, (s, x) in enumerate(zip(starts, audio)):
            a = s - gap
            g[a:s] = np.linspace(prev, gains[i], gap)
            g[s:s + len(x)] = gains[i]
            prev = gains[i]
        g[starts[-1] + len(audio[-1]):] = prev
        stream += looped(noise, pos) * g
        stream = np.clip(stream, -1, 1)
    listener = make_listener()
    t0 = time.process_time()
    events = []
    # Latency as on a live microphone: a chunk arrives when its last sample has been spoken,
    # and the listener works through chunks in order, so the work done at the end of speech
    # (not just the audio the end-pointer waits for) counts.
    ready = 0.0
    ready_at: dict[int, float] = {}
    for i in range(0, len(stream), CHUNK):
        t = time.perf_counter()
        new = listener.feed(stream[i:i + CHUNK])
        ready = max(ready, min(i + CHUNK, pos) / ENGINE_RATE) + time.perf_counter() - t
        ready_at.update((id(e), ready) for e in new)
        events += new
    events += listener.finish()
    cpu = time.process_time() - t0

    bounds = [0.0] + [(starts[i] / ENGINE_RATE + len(audio[i]) / ENGINE_RATE + starts[i + 1] / ENGINE_RATE) / 2
                      for i in range(len(clips) - 1)] + [float("inf")]
    commands_in = [[] for _ in clips]
    for e in events:
        if isinstance(e, Command):
            mid = (e.t_start + e.t_end) / 2
            i = int(np.searchsorted(bounds, mid, side="right")) - 1
            commands_in[min(max(i, 0), len(clips) - 1)].append(e)
    correct = false_accepts = 0
    latencies, ends = [], []
    # What each expected intent came out as ("none": no command; "-" stands for the negatives).
    confusion: dict[str, Counter] = {}
    for c, x, s, got in zip(clips, audio, starts, commands_in):
        heard = "+".join(sorted({e.intent for e in got})) or "none"
        confusion.setdefault(c.word if c.is_command else "-", Counter())[heard] += 1
        if c.is_command:
            if got and all(e.intent == c.word for e in got):
                correct += 1
                done = ready_at.get(id(got[0]), got[0].t_decided)
                latencies.append(done - (s / ENGINE_RATE + speech_end(x)))
                ends.append(got[0].t_end - (s / ENGINE_RATE + speech_end(x)))
        elif got:
            false_accepts += 1
    lat = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    # Where the latency goes: the end-pointer's end of speech after the clip's own, and the
    # decision after that (the hangover, and any work not done ahead).
    lag = np.array(ends) * 1000 if ends else np.array([np.nan])
    return {
        "accuracy": round(correct / max(len(commands), 1), 4),
        "false_accept_rate": round(false_accepts / max(len(negatives), 1), 4),
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
        "endpoint_lag_ms_p50": round(float(np.percentile(lag, 50)), 1),
        "decided_after_endpoint_ms_p95": round(float(np.percentile(lat - lag, 95)), 1),
        "rtf": round(cpu / (pos / ENGINE_RATE), 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "commands": len(commands), "negatives": len(negatives),
        "audio_seconds": round(pos / ENGINE_RATE, 1), "cpu_seconds": round(cpu, 2),
        "snr_db": snr_db,
        # Why utterances were rejected, over the whole stream (commands and negatives).
        "rejections": dict(Counter(e.reason for e in events if isinstance(e, Rejected))),
        "commands_emitted": sum(isinstance(e, Command) for e in events),
        "confusion": {k: dict(v.most_common()) for k, v in sorted(
            confusion.items(), key=lambda kv: (kv[0] == "-", kv[0]))},
    }
