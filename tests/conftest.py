"""Shared test setup. Tests never touch the user's real cache or data folders."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
SPEECH_DATA = REPO.parent / "shared" / "data" / "speech"

_scratch = Path(tempfile.mkdtemp(prefix="voicecoach-tests-"))
os.environ.setdefault("VOICECOACH_CACHE_DIR", str(_scratch / "cache"))
os.environ.setdefault("VOICECOACH_DATA_DIR", str(_scratch / "data"))


@pytest.fixture
def write_script(tmp_path):
    """Write YAML text (or bytes) to a script file in a fresh folder and return its path."""
    def write(content: str | bytes, name: str = "script.yaml") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path
    return write


@pytest.fixture(scope="module")
def pulse():
    """Real audio devices: a private PulseAudio server with null sinks (voicecoach.virtual_audio)."""
    from voicecoach.virtual_audio import VirtualAudio, VirtualAudioUnavailable
    try:
        audio = VirtualAudio().start()
    except VirtualAudioUnavailable as e:
        pytest.fail(f"virtual audio devices are required: {e}")
    yield audio
    audio.stop()


@pytest.fixture(scope="session")
def clear_clips_at():
    """choose(rate): for each command word, the first real recording that the listener
    recognises on its own, placed in a track as the live tests place it and heard at `rate` (a
    clearly spoken one). The live tests are about the live path, not about accuracy, which
    `voicecoach bench listen` measures."""
    import csv
    from voicecoach.events import Command
    from voicecoach.listen.registry import make_engine
    from voicecoach.listen.listener import Listener
    from voicecoach.speak import SAMPLE_RATE
    from voicecoach.speak.tts import resample
    from voicecoach.track import build_track
    from voicecoach.vocabulary import Vocabulary
    commands = SPEECH_DATA / "commands-dev"
    if not commands.is_dir():
        pytest.fail(f"the shared speech data is missing: {commands}")
    vocab = Vocabulary.default("en")
    # Understood by the engine a session gets (Whisper) and by PocketSphinx, which the
    # device tests still listen with (tests/test_live_devices.py says why).
    recognizers = [make_engine(vocab), make_engine(vocab, "pocketsphinx")]
    wanted = {"go": "go", "stop": "stop", "up": "faster", "down": "slower", "yes": "yes", "no": "no"}
    rows = list(csv.DictReader(open(commands / "manifest.csv")))
    chosen_at: dict[int, dict[str, Path]] = {}

    def recognised(clip: Path, intent: str, rate: int, lead: float) -> bool:
        audio = resample(build_track([(lead, f"@{clip}")]), SAMPLE_RATE, rate)
        for recognizer in recognizers:
            recognizer.forget()
            listener = Listener(vocab, recognizer, sample_rate=rate)
            events = listener.feed(audio) + listener.finish()
            if [e.intent for e in events if isinstance(e, Command)] != [intent]:
                return False
        return True

    def choose(rate: int = SAMPLE_RATE) -> dict[str, Path]:
        if rate in chosen_at:
            return chosen_at[rate]
        chosen: dict[str, Path] = {}
        for row in rows:
            word = row["word"]
            if word not in wanted or word in chosen:
                continue
            # Clearly spoken: recognised whatever the block alignment (real-time streams cut
            # audio anywhere) and at 16 kHz too, not just on a lucky alignment.
            if all(recognised(commands / row["path"], wanted[word], r, lead)
                   for r in (rate, 16000) for lead in (0.5, 0.513, 0.527)):
                chosen[word] = commands / row["path"]
        assert set(chosen) == set(wanted), f"no clearly recognised recording of {set(wanted) - set(chosen)}"
        chosen_at[rate] = chosen
        return chosen
    return choose


@pytest.fixture(scope="session")
def clear_clips(clear_clips_at):
    return clear_clips_at()
