"""`voicecoach bench speak`: rendering times and acknowledgement latency."""
from __future__ import annotations

import atexit
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from ..errors import UserError
from ..speech_queue import Priority, SpeechQueue, Utterance
from . import SAMPLE_RATE
from .player import LivePlayer, duration_from, sounds_from
from .sinks import PacedSink, SoundDeviceSink, WavSink, output_device_available
from .tts import Renderer, VoiceSettings

# Used when the cue script (or the session module) is not available.
FALLBACK_TEXTS = [
    "Walk backwards. Small steps, stay tall.", "Step 1 of 4: warm up.", "Round 2 of 3.",
    "Speed up.", "Slow down.", "Look over your shoulder.", "Keep your core tight.",
    "Got it.", "Paused. Say go to continue.", "Say go, pause, faster, slower, or how long.",
]
STATUS_TEXTS = [f"{m} minutes {s} seconds left in this step" for m, s in
                ((1, 7), (2, 13), (3, 29), (4, 41), (5, 53), (6, 17), (7, 38), (8, 2))]


def _texts(script_path: Path):
    """(texts, voice settings, script, where they came from)."""
    try:
        from ..script import load_script
        from ..session import speakable_texts
    except ImportError:
        return FALLBACK_TEXTS, None, None, "built-in sample texts (session module not available)"
    if not script_path.exists():
        return FALLBACK_TEXTS, None, None, f"built-in sample texts ({script_path} not found)"
    script = load_script(script_path)
    return speakable_texts(script), VoiceSettings.for_script(script), script, str(script_path)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def ack_latency(renderer: Renderer, trials: int,
                device=None) -> tuple[list[float], list[float], str]:
    """Command decided -> first sample of its acknowledgement written to the output, through the
    real speech queue and live player, with a coaching cue playing each time (so it is cut)."""
    sink, where = _open_sink(device)
    sound_of = sounds_from(renderer)
    cue = "Walk backwards. Small steps, stay tall, and keep looking over your shoulder."
    ack = "Got it."
    renderer.render(cue), renderer.render(ack)     # a command's answer is rendered ahead
    queue = SpeechQueue(duration_from(sound_of, SAMPLE_RATE))
    live = LivePlayer(sink, sound_of)
    clock0 = time.perf_counter()
    now = lambda: time.perf_counter() - clock0
    live.start()
    underflows_before = getattr(sink, "underflows", 0)   # the stream ran before we wrote
    decisions: dict[int, float] = {}
    try:
        for _ in range(trials):
            live.submit(queue.submit(Utterance(cue, Priority.CUE, "cue", stale_after=5.0), now()))
            time.sleep(0.12)        # the cue is playing when the command is decided
            decided = time.perf_counter()
            actions = queue.submit(Utterance(ack, Priority.ACK, "response"), now())
            live.submit(actions, decided=decided)
            decisions.update({a.utterance.id: decided for a in actions if a.utterance.text == ack})
            time.sleep(0.6)
            live.submit(queue.pump(now()))
    finally:
        live.stop(drain=False)
    if hasattr(sink, "underflows"):
        where += f"; {sink.underflows - underflows_before} underflows (gaps) while playing"
    written = [lat for utt, lat in live.latencies if utt.text == ack]
    handed = []     # decided -> the callback that gave the first sample to PortAudio
    if hasattr(sink, "handed_at"):
        for uid, decided in decisions.items():
            t = sink.handed_at(live.player.placed[uid][0])
            if t is not None:
                handed.append(t - decided)
    return written, handed, where


def session_ack_latency(script, renderer: Renderer, trials: int,
                        device=None) -> tuple[list[float], str]:
    """The same through the real session: a live session (real clock) is started with "go",
    then "faster"/"slower" are commanded; each latency is from just before the command call to
    the first sample of the first response it made, written to the output."""
    from ..clock import RealClock
    from ..session import Session
    from .live import Speaker
    sink, where = _open_sink(device)
    speaker = Speaker(script, renderer, sink)
    session = Session(script, RealClock(), duration_of=speaker.duration_of,
                      on_speech=speaker.on_speech)
    speaker.start()
    lat = []
    try:
        session.begin()
        session.command("go", "go")
        for i in range(trials):
            time.sleep(0.5)
            session.advance(session.clock.now())
            before = len(session.events)
            decided = time.perf_counter()
            session.command("faster" if i % 2 == 0 else "slower")
            answer = next((e for e in session.events[before:]
                           if e.type == "response" and "utterance" in e.extra), None)
            if answer is None:
                continue        # the answer was queued behind something: not an immediate ack
            uid = answer.extra["utterance"]
            deadline = time.monotonic() + 2.0
            while uid not in speaker.live.player.first_written and time.monotonic() < deadline:
                time.sleep(0.001)
            if uid in speaker.live.player.first_written:
                lat.append(speaker.live.player.first_written[uid] - decided)
    finally:
        speaker.live.stop(drain=False)
    return lat, where


def _open_sink(device=None):
    """The sound card when there is one, else a WAV file taking samples at real-time pace."""
    problem = ""
    if output_device_available():
        try:
            sink = SoundDeviceSink(device=device)
            return sink, (f"sounddevice output stream, blocks of {sink.blocksize} "
                          f"(PortAudio latency {sink.latency * 1000:.0f} ms after that)")
        except UserError as e:
            problem = f"(no usable output device: {e}) "
    folder = tempfile.mkdtemp(prefix="voicecoach-bench-")
    atexit.register(shutil.rmtree, folder, True)
    path = Path(folder) / "ack.wav"
    return PacedSink(WavSink(path)), problem + "WAV sink paced at real time (no sound card)"


def main(args) -> int:
    texts, settings, script, source = _texts(args.script)
    settings = (settings or VoiceSettings()).override(args.voice, args.rate, args.volume)
    print(f"texts: {len(texts)} from {source}; voice {settings.name or 'default'}, "
          f"{settings.rate} wpm")
    with tempfile.TemporaryDirectory(prefix="voicecoach-bench-") as tmp:
        with Renderer(settings, Path(tmp)) as cold:
            stats = cold.prerender(texts)
            print(f"render cold (empty cache, worker start included): {stats.seconds:.3f} s "
                  f"for {stats.rendered} texts")
        with Renderer(settings, Path(tmp)) as warm:
            stats = warm.prerender(texts)
            print(f"render warm (cache on disk, new process state): {stats.seconds:.3f} s "
                  f"for {stats.from_cache} cached texts (target <= 1 s)")
            for text in STATUS_TEXTS:
                warm.render(text)
            od = warm.on_demand
            print(f"on-demand render (status answers): p50 {statistics.median(od) * 1000:.0f} ms, "
                  f"p95 {_pct(od, 0.95) * 1000:.0f} ms over {len(od)}")
            lat, handed, where = ack_latency(warm, args.trials, args.device)
            if handed:
                print(f"ack latency (decided -> first sample handed to PortAudio): "
                      f"p50 {statistics.median(handed) * 1000:.1f} ms, "
                      f"p95 {_pct(handed, 0.95) * 1000:.1f} ms, max {max(handed) * 1000:.1f} ms")
            if lat:
                print(f"ack latency (decided -> first sample written): "
                      f"p50 {statistics.median(lat) * 1000:.1f} ms, p95 {_pct(lat, 0.95) * 1000:.1f} ms, "
                      f"max {max(lat) * 1000:.1f} ms over {len(lat)} (target <= 50 ms), via {where}")
                if getattr(args, "verbose", False):
                    print("  each (ms): " + " ".join(f"{x * 1000:.0f}" for x in lat))
            if script is not None:
                lat, where = session_ack_latency(script, warm, max(4, args.trials // 2), args.device)
                if lat:
                    print(f"ack latency through the session (command -> first sample of its answer "
                          f"written): p50 {statistics.median(lat) * 1000:.1f} ms, "
                          f"p95 {_pct(lat, 0.95) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms "
                          f"over {len(lat)}, via {where}")
            for problem in dict.fromkeys(warm.problems):
                print(f"warning: {problem}")
    return 0
