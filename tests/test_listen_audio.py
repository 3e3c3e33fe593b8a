"""PCM conversion: any rate, channel count and chunking gives the same 16 kHz mono stream."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from voicecoach.listen.audio import StreamConverter, as_float_frames, to_int16_bytes


def _tone(freq: float, rate: int, seconds: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    x = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


def _peak_hz(x: np.ndarray, rate: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def test_resampled_tone_keeps_its_pitch_and_duration():
    for rate in (8000, 22050, 44100, 48000):
        out = StreamConverter(rate, 2).convert(_tone(1000, rate, channels=2))
        assert abs(len(out) - 8000) <= 2, rate
        assert abs(_peak_hz(out) - 1000) < 20, rate


def test_frequencies_above_the_new_nyquist_are_filtered_out():
    # Without the low-pass, 12 kHz would alias to 4 kHz.
    out = StreamConverter(48000, 1).convert(_tone(12000, 48000))
    assert np.sqrt(np.mean(out[200:] ** 2)) < 0.02


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 3000), min_size=1, max_size=30), st.sampled_from([22050, 44100, 16000]))
def test_output_does_not_depend_on_chunking(sizes, rate):
    x = _tone(440, rate, 0.6, channels=2)
    whole = StreamConverter(rate, 2).convert(x)
    conv, parts, i = StreamConverter(rate, 2), [], 0
    for n in sizes * 100:
        if i >= len(x):
            break
        parts.append(conv.convert(x[i:i + n]))
        i += n
    if i < len(x):
        parts.append(conv.convert(x[i:]))
    chunked = np.concatenate(parts)
    assert len(chunked) == len(whole)
    assert np.allclose(chunked, whole, atol=1e-5)


def test_int16_bytes_and_integer_arrays_are_understood():
    x = np.array([0, 16384, -32768, 32767], dtype=np.int16)
    assert np.allclose(as_float_frames(x.tobytes(), 1)[:, 0], [0, 0.5, -1, 32767 / 32768])
    assert np.allclose(as_float_frames(x, 1)[:, 0], [0, 0.5, -1, 32767 / 32768])
    stereo = as_float_frames(np.array([1, 2, 3, 4], np.int16).tobytes(), 2)
    assert stereo.shape == (2, 2)
    assert to_int16_bytes(np.array([0.5, -1.0], np.float32)) == np.array([16384, -32768], "<i2").tobytes()


def test_bytes_may_split_a_sample_or_a_frame_anywhere():
    x = (np.random.default_rng(0).standard_normal(9000) * 3000).astype("<i2").tobytes()
    whole = StreamConverter(44100, 2).convert(x)
    conv = StreamConverter(44100, 2)
    chunked = np.concatenate([conv.convert(x[i:i + 1001]) for i in range(0, len(x), 1001)])
    assert np.allclose(chunked, whole, atol=1e-5)
