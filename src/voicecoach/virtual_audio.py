"""Real audio devices for tests and benchmarks: a private PulseAudio daemon with null sinks.

The machine has no sound card. This starts a PulseAudio server of the test's own (its socket and
state in a temporary folder) with:
  - `earbuds`: a null sink, the coach's output; what is played there is recorded from
    `earbuds.monitor`;
  - `mic`: a virtual microphone, a source that hears whatever is played into the `mic_feed` sink;
  - `user`: a combined sink feeding both `mic_feed` and `earbuds`: a user track played there is
    heard by the microphone and recorded with the coach's answers on one timeline (latency).
sounddevice reaches it through ALSA's pulse plugin (libasound2-plugins): the ALSA devices
`pulse`/`default` open the server's default sink (earbuds) and source (mic).

Every program started with `env()` talks to this server and nothing else.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


class VirtualAudioUnavailable(RuntimeError):
    pass


class VirtualAudio:
    def __init__(self, rate: int = 48000) -> None:
        self.rate = rate
        self.dir = Path(tempfile.mkdtemp(prefix="voicecoach-pulse-"))
        self.socket = self.dir / "native"
        self.process: subprocess.Popen | None = None

    def env(self, base: dict | None = None) -> dict:
        env = dict(os.environ if base is None else base)
        env.update(PULSE_SERVER=f"unix:{self.socket}", PULSE_RUNTIME_PATH=str(self.dir),
                   PULSE_STATE_PATH=str(self.dir), PULSE_COOKIE=str(self.dir / "cookie"),
                   PULSE_SINK="earbuds", PULSE_SOURCE="mic")
        return env

    def start(self, timeout: float = 10.0) -> "VirtualAudio":
        exe = shutil.which("pulseaudio")
        if not exe or not shutil.which("pactl"):
            raise VirtualAudioUnavailable("pulseaudio is not installed (make test installs it)")
        args = [exe, "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit=yes", "-n",
                "--use-pid-file=no", "--log-target=stderr", "--log-level=error",
                f"--load=module-native-protocol-unix auth-anonymous=1 socket={self.socket}",
                f"--load=module-null-sink sink_name=earbuds rate={self.rate}",
                f"--load=module-null-sink sink_name=mic_feed rate={self.rate}",
                "--load=module-remap-source source_name=mic master=mic_feed.monitor",
                "--load=module-combine-sink sink_name=user slaves=mic_feed,earbuds",
                "--load=module-always-sink"]
        log = open(self.dir / "pulseaudio.log", "wb")
        self.process = subprocess.Popen(args, env=self.env(), stdout=log, stderr=log,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:          # wait for the server, not for time
            if self.process.poll() is not None:
                raise VirtualAudioUnavailable(
                    f"pulseaudio exited: {(self.dir / 'pulseaudio.log').read_text()[-500:]}")
            if subprocess.run(["pactl", "info"], env=self.env(), capture_output=True).returncode == 0:
                self.pactl("set-default-sink", "earbuds")
                self.pactl("set-default-source", "mic")
                return self
            time.sleep(0.05)
        self.stop()
        raise VirtualAudioUnavailable("pulseaudio did not come up")

    def kill(self) -> None:
        """The sound server dies at once (SIGKILL): every device vanishes mid-stream."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def pactl(self, *args: str) -> str:
        return subprocess.run(["pactl", *args], env=self.env(), capture_output=True, text=True,
                              check=True).stdout

    def play_into_mic(self, wav: Path, also_to_earbuds: bool = False) -> subprocess.Popen:
        """Start playing `wav` into the virtual microphone (in real time); returns the process.
        With `also_to_earbuds`, the same stream also goes to the earbuds' recording."""
        device = "user" if also_to_earbuds else "mic_feed"
        return subprocess.Popen(["paplay", f"--device={device}", str(wav)], env=self.env())

    @contextmanager
    def recording_earbuds(self, wav: Path):
        """Record what is played to the earbuds into `wav` while the block runs."""
        proc = subprocess.Popen(["parecord", "--device=earbuds.monitor", "--channels=1",
                                 f"--rate={self.rate}", "--format=s16le", "--file-format=wav",
                                 str(wav)], env=self.env())
        try:
            yield wav
        finally:
            proc.send_signal(signal.SIGINT)     # parecord finishes the WAV header on SIGINT
            proc.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
