"""A user's side of a session as one recording: commands said at known times, by a synthetic
voice (a different one from the coach's) or taken from real recordings. It stands in for the
microphone in the demo, the tests and the benchmarks."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import UserError
from .listen.audio import read_audio_file
from .speak import SAMPLE_RATE
from .speak.tts import Renderer, VoiceSettings, resample

USER_VOICE = "en-us+f2"      # clearly not the coach's voice, and recognised well (docs/listening.md)
# A microphone never delivers exact digital silence; PocketSphinx's feature normalisation drifts
# on long runs of zeros (a "stop" after a "down" came out as "down"). -66 dBFS: a quiet room.
MIC_NOISE_FLOOR = 5e-4


def build_track(says: list[tuple[float, str]], voice: str = USER_VOICE, rate: int = 150,
                tail: float = 2.0, renderer: Renderer | None = None,
                noise_floor: float = MIC_NOISE_FLOOR, seed: int = 0) -> np.ndarray:
    """Mono float32 samples at SAMPLE_RATE, over a microphone's noise floor (seeded, so a track
    is the same every time). A phrase "@path.wav" places that recording."""
    own = renderer is None
    renderer = renderer or Renderer(VoiceSettings(name=voice, rate=rate))
    try:
        placed = []
        for t, phrase in sorted(says):
            if phrase.startswith("@"):
                data, sr = read_audio_file(phrase[1:])
                sound = resample(data.mean(axis=1), sr, SAMPLE_RATE)
            else:
                sound = renderer.render(phrase)
            placed.append((int(round(t * SAMPLE_RATE)), sound))
    finally:
        if own:
            renderer.close()
    length = max((start + len(s) for start, s in placed), default=0) + int(tail * SAMPLE_RATE)
    track = np.random.default_rng(seed).normal(0.0, noise_floor, length).astype(np.float32)
    for (start, sound), nxt in zip(placed, placed[1:] + [(None, None)]):
        if nxt[0] is not None and start + len(sound) > nxt[0]:
            raise UserError(f"the phrase at {start / SAMPLE_RATE:.2f}s runs into the next one "
                            f"at {nxt[0] / SAMPLE_RATE:.2f}s: space them further apart")
        track[start:start + len(sound)] += sound
    return track


def write_track(path: str | Path, track: np.ndarray) -> None:
    import soundfile
    try:
        soundfile.write(str(path), track, SAMPLE_RATE, subtype="PCM_16")
    except (OSError, RuntimeError) as e:
        raise UserError(f"{path}: cannot write the track ({e})") from None
