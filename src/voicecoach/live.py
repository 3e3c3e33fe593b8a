"""The live coach: microphone frames -> listener -> session <-> one clock -> speech output.

One loop drives everything. Live, it waits on the microphone (never longer than the session's
next deadline); with a file as the microphone it can also run in virtual time, the clock being
the file's own audio time, so that a whole session takes seconds.

The coach must not obey its own voice: with speakers, the microphone is muted to the listener
while the coach speaks and for a short tail after; with earbuds the user may talk over the coach.
"""
from __future__ import annotations

import contextlib
import json
import queue
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, TextIO

import numpy as np

from .clock import Clock, VirtualClock
from .errors import UserError
from .listen.policy import ATTEMPT, CLEAR, NOTHING_HERE
from .events import Command, ListenerEvent, Rejected, TimelineEvent
from .session import Session, format_time
from .speech_queue import Cut, SpeechAction, Started

# At most this many blocks are taken in one turn of the loop (the session's schedule must
# still run if listening ever falls behind for long).
CATCH_UP_BLOCKS = 50
BLOCK_SECONDS = 0.02          # microphone block: the listener's granularity, 20 ms
SPEAKER_TAIL = 0.35           # seconds the microphone stays muted after the coach stops (room echo)
REOPEN_EVERY = 2.0            # seconds between attempts to reopen a lost microphone
SILENT_INPUT_LOST = 1.5       # a live microphone that delivers nothing this long is lost...
STARTING_INPUT_LOST = 8.0     # ...but a stream just opened may take seconds to start (PulseAudio)
CHECKPOINT_EVERY = 2.0        # session seconds between progress records in the journal while running


class InputLost(Exception):
    """The microphone stopped delivering (unplugged, server gone)."""


class AudioInput(Protocol):
    rate: int
    channels: int
    ended: bool

    def read(self, timeout: float) -> np.ndarray | None:
        """The next block of samples (frames x channels), None when none came in `timeout`.
        Raises InputLost when the device is gone."""

    def waiting(self) -> int:
        """Blocks that have come in and can be read at once."""

    def close(self) -> None: ...


# --- inputs ---------------------------------------------------------------------------------

class FileInput:
    """A sound file standing in for the microphone, block by block. With a real clock, each
    block is released when its time comes (real time); with a virtual one, at once."""

    def __init__(self, path: str | Path, clock: Clock, block: float = BLOCK_SECONDS) -> None:
        from .listen.audio import open_audio_file
        # Read block by block: a two-hour recording must not be held whole in memory.
        self._file = open_audio_file(path)
        self.rate, self.channels = int(self._file.samplerate), self._file.channels
        self.frames = self._file.frames
        self.clock = clock
        self.block = max(1, int(self.rate * block))
        self.position = 0
        self.ended = False
        self._origin = clock.now()

    def read(self, timeout: float) -> np.ndarray | None:
        if self.position >= self.frames:
            self.ended = True
            return None
        end = min(self.position + self.block, self.frames)
        due = self._origin + end / self.rate
        if due > self.clock.now():
            if isinstance(self.clock, VirtualClock):
                self.clock.advance_to(due)           # virtual time: the file is the clock
            elif due - self.clock.now() > timeout:
                self.clock.sleep_until(self.clock.now() + timeout)
                return None
            else:
                self.clock.sleep_until(due)
        try:
            block = self._file.read(end - self.position, dtype="float32", always_2d=True)
        except Exception as e:      # the file went bad under us: the recording ends here
            self.frames = self.position
            self.ended = True
            raise InputLost(f"{self._file.name}: unreadable from {self.position / self.rate:.1f} s "
                            f"({str(e).splitlines()[0][:100]})") from None
        if len(block) == 0:
            self.frames = self.position
            return None
        self.position += len(block)
        return block

    def waiting(self) -> int:
        if isinstance(self.clock, VirtualClock):
            return 0                 # virtual time: a block comes in when it is read
        due = int((self.clock.now() - self._origin) * self.rate)
        return max(0, min(due, self.frames) - self.position) // self.block

    def close(self) -> None:
        self._file.close()


def list_devices() -> list[dict]:
    from .speak.sinks import sounddevice_module
    sd = sounddevice_module()
    try:
        devices = sd.query_devices()
        default_in, default_out = sd.default.device
    except Exception as e:
        raise UserError(f"cannot list audio devices: {e}") from None
    return [{"index": i, "name": d["name"], "inputs": d["max_input_channels"],
             "outputs": d["max_output_channels"], "rate": int(d["default_samplerate"]),
             "default_input": i == default_in, "default_output": i == default_out}
            for i, d in enumerate(devices)]


def find_device(spec: str | int | None, kind: str) -> int | None:
    """A device index from a number or part of a name, for 'input' or 'output'; a UserError that
    names the devices found when there is none."""
    channels = "inputs" if kind == "input" else "outputs"
    devices = [d for d in list_devices() if d[channels] > 0]
    found = ", ".join(f"{d['index']}: {d['name']}" for d in devices) or "none"
    if not devices:
        raise UserError(f"no audio {kind} device found (devices with {kind}s: none; "
                        f"all devices: {', '.join(d['name'] for d in list_devices()) or 'none'})")
    if spec is None or spec == "":
        default = next((d for d in devices if d[f"default_{kind}"]), devices[0])
        return default["index"]
    if str(spec).isdigit():
        if any(d["index"] == int(spec) for d in devices):
            return int(spec)
        raise UserError(f"no {kind} device {spec} (found: {found})")
    matches = [d for d in devices if str(spec).lower() in d["name"].lower()]
    if not matches:
        raise UserError(f"no {kind} device matching {spec!r} (found: {found})")
    return matches[0]["index"]


class MicrophoneInput:
    """The microphone through sounddevice, at the device's own rate (48 k, 44.1 k, a headset's
    8 k or 16 k): the listener converts. PortAudio's callback only queues blocks."""

    def __init__(self, device: str | int | None = None, block: float = BLOCK_SECONDS,
                 rate: int | None = None) -> None:
        from .speak.sinks import sounddevice_module
        sd = sounddevice_module()
        self._sd = sd
        self.device = find_device(device, "input")
        info = sd.query_devices(self.device)
        self.name = info["name"]
        self.rate = int(rate or info["default_samplerate"])
        self.channels = 1
        self.block = max(1, int(self.rate * block))
        self.ended = False
        self._queue: queue.Queue[np.ndarray] = queue.Queue()
        self._stream = None
        self._last_block = time.monotonic()
        try:
            self.open()
        except InputLost as e:
            found = ", ".join(f"{d['index']}: {d['name']}" for d in list_devices()
                              if d["inputs"] > 0) or "none"
            raise UserError(f"{e} (input devices found: {found}; choose one with "
                            "--input-device)") from None

    def open(self) -> None:
        sd = self._sd
        try:
            self._stream = sd.InputStream(device=self.device, samplerate=self.rate, channels=1,
                                          dtype="float32", blocksize=self.block,
                                          callback=self._callback)
            self._stream.start()
        except Exception as e:
            self._stream = None
            raise InputLost(f"cannot open the microphone {self.name!r}: {e}") from None
        self._last_block = time.monotonic()
        self._delivering = False

    def _callback(self, indata, frames, time_info, status) -> None:
        self._queue.put(indata.copy())

    def read(self, timeout: float) -> np.ndarray | None:
        if self._stream is None:
            raise InputLost("the microphone is closed")
        try:
            block = self._queue.get(timeout=max(0.0, timeout))
        except queue.Empty:
            # A stream that stopped calling back (device unplugged, sound server gone) is lost.
            patience = SILENT_INPUT_LOST if self._delivering else STARTING_INPUT_LOST
            if not self._stream.active or time.monotonic() - self._last_block > patience:
                raise InputLost(f"the microphone {self.name!r} stopped delivering sound") from None
            return None
        self._last_block = time.monotonic()
        self._delivering = True
        return block

    def waiting(self) -> int:
        return self._queue.qsize()

    def reopen(self) -> bool:
        """Try to open the same microphone again (by name). PortAudio is not re-initialised to
        look for new devices: that would also close an output stream that still works."""
        self.close()
        try:
            self.device = find_device(self.name, "input")
            self.open()
            return True
        except (InputLost, UserError):
            return False

    def close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.abort()
                self._stream.close()
            except Exception:
                pass            # a lost device may refuse to close; it is gone either way
            self._stream = None
        while not self._queue.empty():
            self._queue.get_nowait()


# --- the loop ---------------------------------------------------------------------------------

@dataclass
class Heard:
    understood: int = 0
    not_understood: int = 0
    ignored: int = 0


@dataclass
class LiveCoach:
    """Wires the stages and runs the one loop. `speak(action)` hands the session's speech
    actions to the output (a player); `listener` turns microphone blocks into commands."""
    session: Session
    listener: object                      # voicecoach.listen.listener.Listener
    source: AudioInput
    clock: Clock
    earbuds: bool = False
    log: TextIO | None = None
    on_event: Callable[[TimelineEvent], None] | None = None
    status: Callable[[str], None] | None = None
    output: object | None = None          # a speak.live.Speaker, watched for loss; None in virtual time
    journal: object | None = None         # a journal.SessionJournal: every event, as it happens
    heard: Heard = field(default_factory=Heard)
    audio_time: float = 0.0               # seconds of microphone audio taken in
    last_heard: str = ""
    _speaking_until: float = -1.0
    _mic_lost_at: float | None = None
    _next_reopen: float = 0.0
    _output_lost_at: float | None = None
    _next_output_reopen: float = 0.0
    _wall_origin: float = field(default_factory=time.time)
    _checkpoint_at: float = 0.0

    # Session hooks -------------------------------------------------------------------------
    def timeline(self, event: TimelineEvent) -> None:
        self._log(event.to_json())
        if self.on_event:
            self.on_event(event)

    def spoke(self, action: SpeechAction) -> None:
        """Track when the coach is talking, to keep its own voice out of the listener."""
        if isinstance(action, Started):
            self._speaking_until = max(self._speaking_until, action.t + action.duration)
        elif isinstance(action, Cut):
            self._speaking_until = min(self._speaking_until, action.t)

    # The loop --------------------------------------------------------------------------------
    def run(self, answer: str | None = None) -> None:
        """The session from its start to its end; `answer`: an intent given at once (resume's
        --yes answers its question)."""
        session = self.session
        session.begin()
        if answer:
            session.command(answer, f"(--{answer})", 1.0)
        while not session.done:
            now = self.clock.now()
            deadline = session.next_deadline()
            wait = 0.05 if deadline is None else min(0.05, max(0.0, deadline - now))
            if self.source.ended:
                if deadline is None:
                    break                     # nothing more can happen: no input, no schedule
                self.clock.sleep_until(deadline)
            elif self._mic_lost_at is not None:
                self._try_reopen(now)
                self.clock.sleep_until(min(now + 0.25, deadline or now + 0.25))
            else:
                self._take_input(wait)
            self._watch_output()
            session.advance(self.clock.now())
            self._checkpoint()
            if self.status:
                self.status(self.status_line())
        for event in self.listener.finish():
            self._heard(event)

    def finish_speaking(self, limit: float = 8.0) -> None:
        """After the loop was interrupted: let the session say its last words (no listening)."""
        until = self.clock.now() + limit
        while not self.session.done and self.clock.now() < until:
            deadline = self.session.next_deadline()
            self.clock.sleep_until(min(until, deadline if deadline is not None else until))
            self.session.advance(self.clock.now())

    def _take_input(self, wait: float) -> None:
        """The next block, and every block that came in meanwhile: after a long piece of work
        (an utterance scored) the listener catches up at once, not a block per turn of the
        loop, so that what it decides is not acted on late."""
        try:
            block = self.source.read(wait)
            for _ in range(CATCH_UP_BLOCKS):
                if block is None:
                    break
                self._listen(block, behind=self.source.waiting())
                block = self.source.read(0.0) if self.source.waiting() else None
        except InputLost as e:
            self._input_lost(str(e))

    def _listen(self, block: np.ndarray, behind: int) -> None:
        seconds = len(block) / self.source.rate
        self.audio_time += seconds
        # On the session clock (the microphone's own time runs from when it opened), the block
        # arrived `behind` blocks ago and covers the `seconds` before that.
        arrived = self.clock.now() - behind * seconds
        if not self.earbuds and arrived - seconds < self._speaking_until + SPEAKER_TAIL:
            block = np.zeros_like(block)      # the coach is talking: don't listen to it
        for event in self.listener.feed(block):
            self._heard(event)

    def _heard(self, event: ListenerEvent) -> None:
        s = self.session
        if isinstance(event, Command) and event.confidence < CLEAR \
                and not s.definition.handles(s.state, event.intent):
            event = Rejected(event.phrase, NOTHING_HERE, event.t_start, event.t_end,
                             event.t_decided, event.confidence)
        if isinstance(event, Command):
            self.heard.understood += 1
            self.last_heard = f'"{event.phrase}" ✓'
            s.command(event.intent, event.phrase, event.confidence)
            self._log({"type": "heard", "intent": event.intent, "text": event.phrase,
                       "confidence": round(event.confidence, 3), "t_audio_start": round(event.t_start, 3),
                       "t_audio_end": round(event.t_end, 3), "t_audio_decided": round(event.t_decided, 3)})
        elif isinstance(event, Rejected):
            attempt = event.reason == ATTEMPT
            self.last_heard = f'"{event.text or "…"}" ✗'
            self._log({"type": "rejected", "text": event.text, "reason": event.reason,
                       "confidence": None if event.confidence is None else round(event.confidence, 3),
                       "t_audio_start": round(event.t_start, 3), "t_audio_end": round(event.t_end, 3)})
            if attempt:
                self.heard.not_understood += 1
                s.not_understood(event.text or "", event.reason)
            else:
                self.heard.ignored += 1

    def _checkpoint(self) -> None:
        """Progress into the journal now and then, so that a crash between events loses little."""
        now = self.clock.now()
        if self.journal is None or now < self._checkpoint_at or not self.session.running:
            return
        self._checkpoint_at = now + CHECKPOINT_EVERY
        self.journal.checkpoint(self.session.progress(now).to_json())

    def _input_lost(self, why: str) -> None:
        now = self.clock.now()
        self._mic_lost_at = now
        self._next_reopen = now + REOPEN_EVERY
        self._log({"type": "device", "text": f"microphone lost: {why}"})
        self.session.device_lost("microphone_lost")

    def _watch_output(self) -> None:
        if self.output is None:
            return
        now = self.clock.now()
        if self._output_lost_at is None:
            if self.output.lost:
                self._output_lost_at = now
                self._next_output_reopen = now + REOPEN_EVERY
                self._log({"type": "device", "text": f"audio output lost: {self.output.error}"})
                self.session.device_lost("output_lost")
        elif now >= self._next_output_reopen:
            self._next_output_reopen = now + REOPEN_EVERY
            if self.output.reopen():
                self._output_lost_at = None
                self._log({"type": "device", "text": "audio output back"})

    def _try_reopen(self, now: float) -> None:
        if now < self._next_reopen:
            return
        self._next_reopen = now + REOPEN_EVERY
        reopen = getattr(self.source, "reopen", None)
        if reopen and reopen():
            self._mic_lost_at = None
            self._log({"type": "device", "text": "microphone back: say go to carry on"})

    # Reporting -------------------------------------------------------------------------------
    def _log(self, record: dict) -> None:
        """An event into the journal (first: it must hold whatever anyone saw) and the log file."""
        if self.log is None and self.journal is None:
            return
        t = self.clock.now()
        record = {"t": round(record.pop("t", t), 3), "t_audio": round(self.audio_time, 3),
                  "wall": round(self._wall_origin + t, 3), "state": self.session.state, **record}
        if self.journal is not None:
            self.journal.record(record, self.session.progress().to_json())
        if self.log is not None:
            try:
                self.log.write(json.dumps(record, ensure_ascii=False) + "\n")
                self.log.flush()
            except OSError as e:    # a full disk, /dev/full: the session goes on, the journal has it
                print(f"voicecoach: warning: the event log cannot be written any more "
                      f"({e.strerror or e}); the journal keeps the events", file=sys.stderr)
                log, self.log = self.log, None
                with contextlib.suppress(OSError):
                    log.close()         # (what could not be flushed is dropped here, once)

    def status_line(self) -> str:
        s = self.session
        parts = [s.state]
        if s.step_index >= 0:
            step = s.steps[s.step_index]
            step_left, total_left = s.time_left()
            parts += [f"step {step.number}/{len(s.steps)} {step.name}",
                      s.say.speed(s.current_speed(), s.script.units),
                      f"{format_time(step_left)} left in step, {format_time(total_left)} in all"]
        if self._mic_lost_at is not None:
            parts.append("microphone lost, retrying")
        if self._output_lost_at is not None:
            parts.append("audio output lost, retrying")
        if self.last_heard:
            parts.append(f"heard {self.last_heard}")
        return " | ".join(parts)

    def summary(self) -> str:
        s = self.session
        return (f"{s.script.title}: {s.state}; worked {format_time(s.worked)} of "
                f"{format_time(s.program.duration)}, reached step {max(0, s.step_index + 1)} "
                f"of {len(s.steps)}; "
                f"commands understood {self.heard.understood}, not understood "
                f"{self.heard.not_understood}, noise and speech ignored {self.heard.ignored}")


class StatusLine:
    """A one-line live status on a terminal, redrawn at most four times a second."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream = stream or sys.stderr     # (the one of the moment, not of import)
        self.enabled = stream.isatty()
        self._last = ""
        self._at = 0.0

    def __call__(self, text: str) -> None:
        if not self.enabled or (text == self._last) or time.monotonic() - self._at < 0.25:
            return
        width = 100
        self.stream.write("\r" + text[:width].ljust(min(width, max(len(self._last), len(text)))))
        self.stream.flush()
        self._last, self._at = text, time.monotonic()

    def clear(self) -> None:
        if self.enabled and self._last:
            self.stream.write("\r" + " " * min(100, len(self._last)) + "\r")
            self.stream.flush()
