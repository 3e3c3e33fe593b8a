"""Earcons: short tones that say "started", "paused", "got it", "didn't understand", "careful"
and "done" without words.

They are generated here, not downloaded, so that they are reproducible: `python -m
voicecoach.speak.earcons` rewrites audio/*.wav byte for byte (`--check` only compares).
"""
from __future__ import annotations

import argparse
import io
import sys
import wave
from pathlib import Path

import numpy as np

from . import SAMPLE_RATE

AUDIO_DIR = Path(__file__).resolve().parents[3] / "audio"

# name -> notes: (frequency Hz, seconds, gain). A frequency of 0 is a rest.
# Rising = start/go, falling = pause/end, one short high blip = acknowledged,
# low two-tone = not understood, three quick high pulses = warning.
EARCONS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "start": ((660.0, 0.09, 0.5), (880.0, 0.13, 0.5)),
    "pause": ((880.0, 0.09, 0.5), (587.33, 0.15, 0.5)),
    "ack": ((1046.5, 0.07, 0.45),),
    "not_understood": ((392.0, 0.11, 0.5), (0.0, 0.04, 0.0), (330.0, 0.15, 0.5)),
    "warning": ((1318.5, 0.06, 0.45), (0.0, 0.04, 0.0), (1318.5, 0.06, 0.45),
                (0.0, 0.04, 0.0), (1318.5, 0.06, 0.45)),
    "end": ((880.0, 0.10, 0.5), (659.25, 0.10, 0.5), (440.0, 0.22, 0.5)),
}

_FADE = 0.008   # seconds of raised-cosine fade at each note's ends: no clicks


def _note(freq: float, seconds: float, gain: float, rate: int) -> np.ndarray:
    n = int(round(seconds * rate))
    if freq <= 0.0 or gain <= 0.0:
        return np.zeros(n, dtype=np.float64)
    t = np.arange(n, dtype=np.float64) / rate
    # A touch of the octave makes the tone audible on small earbuds.
    tone = np.sin(2 * np.pi * freq * t) + 0.25 * np.sin(4 * np.pi * freq * t)
    tone *= gain / 1.25
    k = min(int(_FADE * rate), n // 2)
    if k:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(k) / k)
        tone[:k] *= ramp
        tone[n - k:] *= ramp[::-1]
    return tone


def synthesize(name: str, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The earcon as int16 samples (mono)."""
    try:
        notes = EARCONS[name]
    except KeyError:
        raise KeyError(f"no earcon named {name!r} (known: {', '.join(EARCONS)})") from None
    signal = np.concatenate([_note(f, s, g, rate) for f, s, g in notes])
    return np.round(signal * 32767.0).astype(np.int16)


def wav_bytes(name: str, rate: int = SAMPLE_RATE) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(synthesize(name, rate).astype("<i2").tobytes())
    return buf.getvalue()


_loaded: dict[str, np.ndarray] = {}


def load(name: str) -> np.ndarray:
    """The earcon as float32 at SAMPLE_RATE: from audio/ when it is there, else generated (the
    same samples), so an installed package without the repo's audio/ still has its tones."""
    if name not in _loaded:
        path = AUDIO_DIR / f"{name}.wav"
        samples = None
        if path.is_file():
            with wave.open(str(path), "rb") as w:
                if w.getframerate() == SAMPLE_RATE and w.getnchannels() == 1 and w.getsampwidth() == 2:
                    samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        if samples is None:
            samples = synthesize(name)
        _loaded[name] = samples.astype(np.float32) / 32768.0
    return _loaded[name]


def duration(name: str) -> float:
    return len(load(name)) / SAMPLE_RATE


def write_all(folder: Path = AUDIO_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in EARCONS:
        path = folder / f"{name}.wav"
        path.write_bytes(wav_bytes(name))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voicecoach.speak.earcons",
                                     description="Regenerate the earcon WAVs in audio/.")
    parser.add_argument("--out", type=Path, default=AUDIO_DIR, help="folder (default: audio/)")
    parser.add_argument("--check", action="store_true",
                        help="only compare the files with what would be generated")
    args = parser.parse_args(argv)
    if args.check:
        stale = [n for n in EARCONS
                 if not (args.out / f"{n}.wav").is_file()
                 or (args.out / f"{n}.wav").read_bytes() != wav_bytes(n)]
        for n in stale:
            print(f"{args.out / (n + '.wav')}: differs from the generator", file=sys.stderr)
        return 1 if stale else 0
    for path in write_all(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
