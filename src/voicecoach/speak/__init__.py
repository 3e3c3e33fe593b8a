"""Speaking: cue audio rendered ahead of time, earcons, and one player that writes the speech
queue's decisions to a sound card or a WAV file.

Everything here works at one output rate, mono; rendered speech is resampled to it.
"""
from __future__ import annotations

SAMPLE_RATE = 22050   # espeak-ng's own rate: its speech needs no resampling
