"""Property-based (issue 13, part 4): audio files and command lines as a hostile tester makes
them. Audio: either samples (finite, float32) or a clear AudioFileError; a command line: an
exit status and a message, never a traceback or a hang.
VOICECOACH_FUZZ_EXAMPLES=10000 for the long hunt outside CI (docs/benchmarks.md)."""
from __future__ import annotations

import contextlib
import io
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import SCRIPTS
from voicecoach.cli import main
from voicecoach.listen.audio import AudioFileError, load_mono_16k

_DIR = Path(tempfile.mkdtemp(prefix="voicecoach-input-fuzz-"))
N = int(os.environ.get("VOICECOACH_FUZZ_EXAMPLES", 150))
FUZZ = settings(max_examples=N, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]


@st.composite
def sound_files(draw) -> bytes:
    """A WAV written properly, then perhaps damaged: cut short, header fields changed, bytes
    overwritten; or samples that are NaN, infinite, huge."""
    rate = draw(st.sampled_from([1, 8000, 11025, 16000, 44100, 48000, 96000, 384000]))
    channels = draw(st.integers(1, 6))
    frames = draw(st.integers(0, 4000))
    subtype = draw(st.sampled_from(SUBTYPES))
    x = np.asarray(draw(st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=8)),
                   np.float32)
    data = np.resize(x, frames * channels).reshape(frames, channels)
    if subtype in ("FLOAT", "DOUBLE") and frames and draw(st.booleans()):
        data.flat[draw(st.integers(0, data.size - 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf, 1e30]))
    path = _DIR / "w.wav"
    sf.write(path, data, rate, subtype=subtype, format="WAV")
    raw = bytearray(path.read_bytes())
    damage = draw(st.sampled_from(["none", "cut", "field", "bytes"]))
    if damage == "cut":
        raw = raw[:draw(st.integers(0, len(raw)))]
    elif damage == "field" and len(raw) >= 44:
        at = draw(st.sampled_from([4, 20, 22, 24, 28, 32, 34, 40]))
        raw[at:at + 4] = struct.pack("<I", draw(st.sampled_from([0, 1, 0xFFFF, 0xFFFFFFFF])))
    elif damage == "bytes" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        junk = draw(st.binary(min_size=1, max_size=64))
        raw[at:at + len(junk)] = junk
    return bytes(raw)


@FUZZ
@given(sound_files())
def test_any_sound_file_is_samples_or_a_clear_refusal(raw):
    path = _DIR / "fuzzed.wav"
    path.write_bytes(raw)
    try:
        x = load_mono_16k(path)
    except AudioFileError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)
        return
    assert x.dtype == np.float32 and np.isfinite(x).all()


def cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    # In a folder of its own: `report N` and the like write their files where they run.
    with contextlib.chdir(_DIR), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as e:       # argparse's own refusal: status 2 and a usage line
            status = e.code
    return status, err.getvalue()


_word = st.one_of(st.text(max_size=12), st.sampled_from(
    ["-1", "0", "99999999999999999999999", "1e309", "nan", "0:05 go", "99:99 go",
     "99999999999999999999:00 go", "-0:05 go", "@/dev/zero", "@missing.wav", "", " ", "\x00",
     "\x1b[2J", "../../etc/passwd", str(SCRIPTS / "backwards-walk.yaml"), "/dev/zero", "/tmp"]))

COMMANDS = [
    ["check"], ["simulate", str(SCRIPTS / "backwards-walk.yaml"), "--say"],
    ["simulate", str(SCRIPTS / "backwards-walk.yaml"), "--until"], ["history", "-n"],
    ["report"], ["prune", "--older-than"], ["diagram", "--format"],
    ["track", str(_DIR / "t.wav"), "--say"], ["models", "remove"], ["voices", "--engine"],
]


@settings(max_examples=max(20, N // 3), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(COMMANDS), st.lists(_word, min_size=1, max_size=3))
def test_any_command_line_ends_in_a_status_and_a_message(command, words):
    os.environ.setdefault("VOICECOACH_DATA_DIR", str(_DIR / "data"))
    status, err = cli(command + words)
    assert isinstance(status, int) and 0 <= status <= 2, (command + words, status, err)
    assert "Traceback" not in err, (command + words, err)
