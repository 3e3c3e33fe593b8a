"""The test rig's virtual devices are real audio devices: sound played into the virtual
microphone reaches a sounddevice input stream, and a sounddevice output stream reaches the
virtual earbuds. (The live coach's tests stand on this.)"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import soundfile as sf

from voicecoach.virtual_audio import VirtualAudio



def tone(freq: float, seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


# Run in a child process so that PortAudio enumerates the devices of this server only.
def run_child(pulse: VirtualAudio, code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=pulse.env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_sound_played_into_the_virtual_microphone_is_captured(pulse, tmp_path):
    wav = tmp_path / "tone.wav"
    sf.write(wav, tone(440, 1.0), 16000, subtype="PCM_16")
    run_child(pulse, f"""
        import subprocess, numpy as np, sounddevice as sd
        frames = []
        with sd.InputStream(device="pulse", samplerate=16000, channels=1, dtype="float32",
                            callback=lambda d, n, t, s: frames.append(d.copy())):
            subprocess.run(["paplay", "--device=mic_feed", {str(wav)!r}], check=True)
        x = np.concatenate(frames)[:, 0]
        np.save({str(tmp_path / "captured.npy")!r}, x)
    """)
    x = np.load(tmp_path / "captured.npy")
    loud = x[np.abs(x) > 0.05]
    assert len(loud) > 0.5 * 16000          # most of the second of tone arrived
    assert abs(dominant_frequency(x, 16000) - 440) < 5


def test_an_output_stream_reaches_the_virtual_earbuds(pulse, tmp_path):
    recorded = tmp_path / "earbuds.wav"
    with pulse.recording_earbuds(recorded):
        run_child(pulse, """
            import numpy as np, sounddevice as sd
            t = np.arange(16000) / 16000
            sd.play((0.3 * np.sin(2 * np.pi * 660 * t)).astype(np.float32), 16000, device="pulse")
            sd.wait()
        """)
    x, rate = sf.read(recorded, dtype="float32")
    assert rate == pulse.rate and len(x) > 0
    assert abs(dominant_frequency(x, rate) - 660) < 5
