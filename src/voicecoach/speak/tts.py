"""Speech rendered ahead of time into an on-disk cache.

pyttsx3 (libespeak-ng behind it on Linux) is the engine; it runs in a worker process with a
timeout because its loop can hang or refuse to run twice, and a session must never freeze on
it. When pyttsx3 fails the `espeak-ng` program renders instead; when both fail the error says
what went wrong with each.

Cache entries are mono 16-bit WAVs at SAMPLE_RATE, named by a hash of everything that changes
the sound (text, voice, rate, volume, engine and its version). They are written atomically
(temp file + rename) so that several processes may render the same entries at once, and
checked on every read: a corrupt or truncated entry is rendered again and replaced.
"""
from __future__ import annotations

from collections import OrderedDict

import hashlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import UserError
from . import SAMPLE_RATE

CACHE_ENV = "VOICECOACH_CACHE_DIR"
DEFAULT_RATE = 175          # words per minute: espeak-ng's own default, clear through earbuds
MEMORY_BYTES = 64 * 2**20    # rendered speech held in memory (about 12 minutes of it)
DEFAULT_TIMEOUT = 10.0      # seconds one pyttsx3 job (or the worker's start) may take
ENGINES = ("pyttsx3", "espeak-ng")
_FORMAT = 2                 # bump when what is stored changes (trimming, sample rate)
_SILENCE = 0.004            # |amplitude| below this counts as silence when trimming
_LEAD = 0.005               # seconds kept before the first sound: cues start on time
_TAIL = 0.040               # seconds kept after the last sound


# --- settings -------------------------------------------------------------------------------

@dataclass(frozen=True)
class VoiceSettings:
    """How the coach sounds. `name` is a voice id, name or language as `voicecoach voices`
    lists them; None means the engine's default voice."""
    name: str | None = None
    rate: int = DEFAULT_RATE
    volume: float = 1.0

    def __post_init__(self) -> None:
        if not 80 <= int(self.rate) <= 450:
            raise UserError(f"voice rate {self.rate}: must be 80-450 words per minute")
        if not 0.0 <= float(self.volume) <= 1.0:
            raise UserError(f"voice volume {self.volume}: must be between 0 and 1")

    @classmethod
    def for_script(cls, script, name: str | None = None, rate: int | None = None,
                   volume: float | None = None) -> "VoiceSettings":
        """The script's voice (its `voice`, else its language), with the user's overrides."""
        voice = script.voice
        return cls(
            name=name or voice.name or script.language,
            rate=rate if rate is not None else (voice.rate or DEFAULT_RATE),
            volume=volume if volume is not None else (
                voice.volume if voice.volume is not None else 1.0),
        )

    def override(self, name: str | None = None, rate: int | None = None,
                 volume: float | None = None) -> "VoiceSettings":
        return replace(self, name=name or self.name,
                       rate=self.rate if rate is None else rate,
                       volume=self.volume if volume is None else volume)


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_cache_dir("voicecoach"))


@lru_cache(maxsize=None)
def espeak_ng_version() -> str | None:
    exe = shutil.which("espeak-ng")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"text-to-speech:\s*(\S+)", out)
    return m.group(1) if m else out.strip()[:40]


@lru_cache(maxsize=None)
def engine_version(engine: str) -> str:
    espeak = espeak_ng_version() or "unknown"
    if engine == "pyttsx3":
        try:
            return f"pyttsx3 {metadata.version('pyttsx3')} / libespeak-ng {espeak}"
        except metadata.PackageNotFoundError:
            return "pyttsx3 missing"
    return f"espeak-ng {espeak}"


# --- audio helpers --------------------------------------------------------------------------

def resample(samples: np.ndarray, rate: int, to: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling (filtered: no aliasing from a 44.1/48 kHz recording)."""
    if rate == to or len(samples) == 0:
        return np.asarray(samples, dtype=np.float32)
    from math import gcd
    from scipy.signal import resample_poly
    g = gcd(int(rate), int(to))
    return resample_poly(samples, int(to) // g, int(rate) // g).astype(np.float32)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Any 16-bit PCM WAV as float32 mono (the engines' output)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{w.getsampwidth() * 8}-bit samples, expected 16")
        rate, channels = w.getframerate(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    samples = data.astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples, rate


def trim(samples: np.ndarray) -> np.ndarray:
    """Cut the engine's leading silence (so a cue's sound starts at its time) and most of the
    trailing one (so the queue's gap, not the engine, decides the pause after it)."""
    loud = np.flatnonzero(np.abs(samples) > _SILENCE)
    if len(loud) == 0:
        return samples      # silent (volume 0): keep it as it is
    start = max(0, loud[0] - int(_LEAD * SAMPLE_RATE))
    end = min(len(samples), loud[-1] + 1 + int(_TAIL * SAMPLE_RATE))
    return samples[start:end]


def _to_int16(samples: np.ndarray) -> np.ndarray:
    return np.round(np.clip(samples, -1.0, 32767 / 32768) * 32768.0).astype("<i2")


# --- engines --------------------------------------------------------------------------------

class EngineError(Exception):
    pass


class Pyttsx3Worker:
    """One pyttsx3 process, started on first use, killed and replaced when it hangs or dies."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT,
                 start_timeout: float | None = None) -> None:
        self.timeout = timeout          # per job
        # Starting Python and libespeak-ng on a busy machine can take a second or more; that
        # is not a hang, so it gets its own allowance.
        self.start_timeout = max(timeout, DEFAULT_TIMEOUT) if start_timeout is None else start_timeout
        self._proc: subprocess.Popen | None = None
        self.started = 0         # worker processes started (more than 1: one was replaced)

    def _read(self, deadline: float, allowed: float) -> dict:
        assert self._proc is not None and self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            self.kill()
            raise EngineError(f"pyttsx3 did not answer within {allowed:g} s (worker killed)")
        line = self._proc.stdout.readline()
        if not line:
            code = self._proc.poll()
            self.kill()
            raise EngineError(f"pyttsx3 worker exited (status {code})")
        reply = json.loads(line)
        if "error" in reply:
            raise EngineError(reply["error"])
        return reply

    def _ensure(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self.started += 1
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "voicecoach.speak._tts_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1)
        try:
            self._read(time.monotonic() + self.start_timeout, self.start_timeout)
        except EngineError:
            self.kill()
            raise

    def call(self, request: dict) -> dict:
        self._ensure()
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self.kill()
            raise EngineError(f"pyttsx3 worker unreachable: {e}") from None
        return self._read(time.monotonic() + self.timeout, self.timeout)

    def render(self, text: str, settings: VoiceSettings, path: Path) -> None:
        self.call({"op": "render", "text": text, "voice": settings.name, "rate": settings.rate,
                   "volume": settings.volume, "path": str(path)})

    def voices(self) -> list[dict]:
        return self.call({"op": "voices"})["ok"]

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for f in (proc.stdin, proc.stdout):
                try:
                    f.close()
                except (OSError, AttributeError):
                    pass

    def close(self) -> None:
        self.kill()


def espeak_ng_render(text: str, settings: VoiceSettings, path: Path,
                     timeout: float = DEFAULT_TIMEOUT) -> None:
    exe = shutil.which("espeak-ng")
    if not exe:
        raise EngineError("the espeak-ng program is not installed (apt-get install espeak-ng)")
    cmd = [exe, "-s", str(int(settings.rate)), "-a", str(int(round(settings.volume * 100))),
           "-w", str(path)]
    if settings.name:
        # A voice named as pyttsx3 lists it ("English (America)") means the same voice here.
        from ._tts_worker import _resolve_voice
        cmd += ["-v", _resolve_voice(espeak_ng_voices(), settings.name) or settings.name]
    try:
        done = subprocess.run(cmd + ["--", text], capture_output=True, text=True,
                              timeout=max(timeout, 1.0))
    except subprocess.TimeoutExpired:
        raise EngineError(f"espeak-ng did not finish within {max(timeout, 1.0):g} s") from None
    if done.returncode != 0 or not path.exists():
        msg = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise EngineError(msg)


@lru_cache(maxsize=1)
def espeak_ng_voices() -> list[dict]:
    exe = shutil.which("espeak-ng")
    if not exe:
        return []
    out = subprocess.run([exe, "--voices"], capture_output=True, text=True, timeout=10).stdout
    voices = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5:
            gender = {"M": "Male", "F": "Female"}.get(parts[2].split("/")[-1])
            voices.append({"id": parts[4], "name": parts[3].replace("_", " "),
                           "languages": [parts[1]], "gender": gender})
    return voices


# --- the renderer ---------------------------------------------------------------------------

@dataclass
class RenderStats:
    texts: int = 0
    from_cache: int = 0
    rendered: int = 0
    seconds: float = 0.0


@dataclass
class Renderer:
    """Text -> float32 samples at SAMPLE_RATE, through the cache.

    `render(text)` is what the player and the speech queue's `duration_of` use; `prerender`
    fills the cache before a session. `on_demand` records how long each cache miss took."""
    settings: VoiceSettings = field(default_factory=VoiceSettings)
    cache: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    engines: tuple[str, ...] = ENGINES

    def __post_init__(self) -> None:
        self.cache = Path(self.cache) if self.cache is not None else cache_dir()
        # The sounds last used, up to MEMORY_BYTES: a long script's speech stays on disk
        # (the cache), not all in memory at once.
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memory_bytes = 0
        self._lock = threading.RLock()
        self._worker = Pyttsx3Worker(self.timeout)
        self._pyttsx3_failures = 0
        self.problems: list[str] = []          # engine failures seen (fallbacks taken)
        self.replaced_corrupt = 0
        self.on_demand: list[float] = []       # seconds per cache miss (rendering latency)
        self.engine_used: dict[str, str] = {}  # text -> engine that made its audio
        try:
            (self.cache / "tmp").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"speech cache folder {self.cache}: cannot write there ({e}); "
                            f"set {CACHE_ENV} to a writable folder") from None
        self._sweep_temp_files()

    def _sweep_temp_files(self, older_than: float = 3600.0) -> None:
        """Engines' output left behind by a process killed mid-render (an hour old: no
        renderer still running takes that long over one file)."""
        cutoff = time.time() - older_than
        try:
            for f in (self.cache / "tmp").iterdir():
                try:
                    if f.stat().st_mtime < cutoff:
                        f.unlink()
                except OSError:
                    pass        # another process removed it first
        except OSError:
            pass                # no tmp folder yet

    # -- keys and files --------------------------------------------------------------------
    def key(self, text: str, engine: str) -> str:
        ident = {"format": _FORMAT, "rate_hz": SAMPLE_RATE, "text": text,
                 "voice": self.settings.name, "wpm": int(self.settings.rate),
                 "volume": round(float(self.settings.volume), 3),
                 "engine": engine, "engine_version": engine_version(engine)}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()

    def path(self, text: str, engine: str) -> Path:
        k = self.key(text, engine)
        return self.cache / "speech" / k[:2] / f"{k}.wav"

    def _load_entry(self, path: Path) -> np.ndarray | None:
        """The entry's samples, or None when it is missing or not a whole, valid WAV."""
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        try:
            with wave.open(str(path), "rb") as w:
                shape_ok = (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
                n = w.getnframes()
                data = w.readframes(n)
        except (wave.Error, EOFError, OSError):
            shape_ok, n, data = False, 0, b""
        if shape_ok and n > 0 and len(data) == 2 * n and size == 44 + 2 * n:
            return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        self.replaced_corrupt += 1      # rendered again below, and the file replaced
        return None

    def _store(self, path: Path, samples: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".wav", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                with wave.open(f, "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(SAMPLE_RATE)
                    w.writeframes(_to_int16(samples).tobytes())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)      # atomic: readers see the old entry or the whole new one
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    # -- rendering -------------------------------------------------------------------------
    def _synthesize(self, engine: str, text: str) -> np.ndarray:
        tmpdir = self.cache / "tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".wav", dir=tmpdir)
        os.close(fd)
        out = Path(tmp)
        out.unlink()            # the engine creates it; its absence means it wrote nothing
        try:
            if engine == "pyttsx3":
                self._worker.render(text, self.settings, out)
            elif engine == "espeak-ng":
                espeak_ng_render(text, self.settings, out, self.timeout)
            else:
                raise EngineError(f"unknown engine {engine!r}")
            try:
                samples, rate = _read_wav(out)
            except (wave.Error, EOFError, ValueError) as e:
                raise EngineError(f"{engine} wrote an unreadable WAV: {e}") from None
            samples = trim(resample(samples, rate))
            if len(samples) == 0:
                raise EngineError(f"{engine} produced no audio")
            return samples
        finally:
            try:
                out.unlink()
            except FileNotFoundError:
                pass

    def render(self, text: str) -> np.ndarray:
        text = " ".join(text.split())
        if not text:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            if text in self._memory:
                self._memory.move_to_end(text)
                return self._memory[text]
            errors: list[str] = []
            for engine in self.engines:
                if engine == "pyttsx3" and self._pyttsx3_failures >= 2:
                    errors.append("pyttsx3: skipped after repeated failures")
                    continue        # don't pay a timeout for every cue once it is known broken
                path = self.path(text, engine)
                samples = self._load_entry(path)
                if samples is None:
                    t0 = time.perf_counter()
                    try:
                        samples = self._synthesize(engine, text)
                    except EngineError as e:
                        errors.append(f"{engine}: {e}")
                        self.problems.append(f"{engine}: {e}")
                        if engine == "pyttsx3":
                            self._pyttsx3_failures += 1
                        continue
                    if engine == "pyttsx3":
                        self._pyttsx3_failures = 0
                    try:
                        self._store(path, samples)
                    except OSError as e:    # disk full, say: speak anyway, uncached
                        self.problems.append(f"cache: cannot store {path.name}: {e}")
                    self.on_demand.append(time.perf_counter() - t0)
                self._remember(text, samples)
                self.engine_used[text] = engine
                return samples
            raise UserError(f'cannot render speech "{text}" '
                            f"(voice {self.settings.name or 'default'}): " + "; ".join(errors))

    def _remember(self, text: str, samples: np.ndarray) -> None:
        self._memory[text] = samples
        self._memory_bytes += samples.nbytes
        while self._memory_bytes > MEMORY_BYTES and len(self._memory) > 1:
            _, old = self._memory.popitem(last=False)
            self._memory_bytes -= old.nbytes

    def duration(self, text: str) -> float:
        return len(self.render(text)) / SAMPLE_RATE

    def prerender(self, texts: Iterable[str], progress: bool = False) -> RenderStats:
        """Render every text not yet cached (before a session starts), with a progress bar."""
        from tqdm import tqdm
        unique = list(dict.fromkeys(" ".join(t.split()) for t in texts if t and t.strip()))
        stats = RenderStats(texts=len(unique))
        t0 = time.perf_counter()
        misses_before = len(self.on_demand)
        for text in tqdm(unique, desc="rendering speech", unit="text", disable=not progress,
                         file=sys.stderr, leave=False):
            self.render(text)
        stats.rendered = len(self.on_demand) - misses_before
        del self.on_demand[misses_before:]      # ahead-of-time renders are not on-demand latency
        stats.from_cache = stats.texts - stats.rendered
        stats.seconds = time.perf_counter() - t0
        return stats

    def voices(self) -> list[dict]:
        """Voices this machine has: pyttsx3's list, else espeak-ng's."""
        try:
            return self._worker.voices()
        except EngineError as e:
            self.problems.append(f"pyttsx3: {e}")
            voices = espeak_ng_voices()
            if not voices:
                raise UserError(f"cannot list voices: pyttsx3: {e}; espeak-ng: not installed "
                                "or no voices") from None
            return voices

    def close(self) -> None:
        self._worker.close()

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
