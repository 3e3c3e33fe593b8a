"""Streaming noise suppression: spectral subtraction with a minimum-tracking noise estimate.

Steady noise (an exercise bike, a treadmill, a fan) is learnt per frequency bin as the slowly
rising minimum of the smoothed spectrum, and subtracted with a gain floor so that what is left
sounds like quieter noise rather than "musical" artefacts. 20 ms sqrt-Hann windows, 10 ms hop:
the output lags the input by one 10 ms frame.
"""
from __future__ import annotations

import numpy as np

from .frontend import FRAME_SAMPLES


class NoiseSuppressor:
    def __init__(self, over_subtraction: float = 2.0, gain_floor: float = 0.15,
                 rise_per_frame: float = 1.003, smoothing: float = 0.7):
        n = 2 * FRAME_SAMPLES
        self._window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)
        self._prev = np.zeros(FRAME_SAMPLES, np.float32)     # last input frame
        self._overlap = np.zeros(FRAME_SAMPLES, np.float32)  # second half of the last output
        self._smoothed: np.ndarray | None = None
        self._noise: np.ndarray | None = None
        self.over, self.floor, self.rise, self.alpha = over_subtraction, gain_floor, rise_per_frame, smoothing

    def process(self, frame: np.ndarray) -> np.ndarray:
        """One 10 ms frame in, one 10 ms frame (delayed by one frame) out."""
        block = np.concatenate([self._prev, frame]) * self._window
        self._prev = frame.astype(np.float32)
        spectrum = np.fft.rfft(block)
        power = spectrum.real ** 2 + spectrum.imag ** 2
        if self._smoothed is None:
            self._smoothed = power.copy()
            self._noise = power.copy()
        self._smoothed = self.alpha * self._smoothed + (1 - self.alpha) * power
        self._noise = np.minimum(self._noise * self.rise, self._smoothed)
        gain = np.maximum(1 - self.over * self._noise / (power + 1e-12), self.floor)
        out = np.fft.irfft(spectrum * np.sqrt(gain), n=len(block)).astype(np.float32) * self._window
        result = self._overlap + out[:FRAME_SAMPLES]
        self._overlap = out[FRAME_SAMPLES:]
        return result
