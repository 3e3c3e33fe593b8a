"""Subcommands of the live coach: run, resume, track, devices, bench live. They only wire
stages together."""
from __future__ import annotations

import argparse
import contextlib
import json
import sys

from .errors import UserError


def register(sub, bench_sub) -> None:
    p = sub.add_parser("run", help="coach a session live: microphone to earbuds",
                       description="Run SCRIPT live: listen for commands, speak the cues. "
                                   "Ctrl-C ends the session with a summary.")
    p.add_argument("script", metavar="SCRIPT")
    add_run_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", help="continue the last unfinished session where it stopped",
                       description="Continue the most recent unfinished session (crashed, killed, "
                                   "interrupted) at the step and time where it stopped. It asks "
                                   "first: on the terminal when there is one, else by voice "
                                   "(say go to carry on, stop to leave it).")
    p.add_argument("session", nargs="?", metavar="SESSION",
                   help="a session number from voicecoach history (default: the most recent "
                        "unfinished one)")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask: carry on at once")
    add_run_options(p)
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("track", help="make a recording of a user saying commands",
                       description="Build a WAV of commands said at known times (by a voice "
                                   "other than the coach's), to use as --input.")
    p.add_argument("output", metavar="WAV")
    p.add_argument("--say", action="append", default=[], metavar='"M:SS PHRASE"', required=True,
                   help='a phrase at a time; "M:SS @file.wav" places a recording (repeatable)')
    p.add_argument("--voice", default=None, help="the user's voice (default en-us+f2)")
    p.add_argument("--rate", type=int, default=150, help="words per minute")
    p.set_defaults(func=cmd_track)

    p = bench_sub.add_parser("live", help="end-to-end latency, CPU and memory of a live session",
                             description="Run a live session through virtual audio devices "
                                         "(a private PulseAudio server) and measure it from outside.")
    from .listen.registry import ENGINES
    p.add_argument("--engine", choices=ENGINES, help="recogniser of the session (default: as `run`)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_live)

    p = bench_sub.add_parser("soak", help="false commands in an hour of talk with no command in it",
                             description="Build an hour of other words, sentences and noise from "
                                         "the speech data (no command after one opening 'go'), "
                                         "run the coach on it (run --fast --earbuds) and count "
                                         "what it acted on.")
    p.add_argument("--data", default="../shared/data/speech", metavar="DIR",
                   help="the speech data folder (negatives-dev, negatives-train, noise-dev)")
    p.add_argument("--minutes", type=float, default=60.0, help="length of the soak (default 60)")
    p.add_argument("--engine", choices=ENGINES, help="recogniser (default: as `run`)")
    p.add_argument("--wake-word", metavar="WORD", help="run the coach in wake-word mode")
    p.add_argument("--log", metavar="FILE", help="keep the run's event log (one JSON line each)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_soak)

    p = sub.add_parser("devices", help="list audio devices")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_devices)


def add_run_options(p) -> None:
    """The options of a live session, shared by run and resume."""
    p.add_argument("--input", metavar="WAV", help="a recording instead of the microphone")
    p.add_argument("--fast", action="store_true",
                   help="with --input: run in virtual time, as fast as the machine allows")
    p.add_argument("--output", metavar="WAV",
                   help="record what the coach says, aligned to the input's timeline")
    p.add_argument("--log", metavar="FILE", help="one JSON line per event")
    p.add_argument("--earbuds", action="store_true",
                   help="the user wears earbuds: keep listening while the coach speaks (barge-in)")
    p.add_argument("--input-device", metavar="DEVICE", help="number or part of a name")
    p.add_argument("--output-device", metavar="DEVICE", help="number or part of a name")
    p.add_argument("--input-rate", type=int, metavar="HZ",
                   help="open the microphone at this rate (default: the device's own)")
    from .listen.registry import ENGINES
    p.add_argument("--engine", choices=ENGINES, help="recogniser (default: as `transcribe`)")
    p.add_argument("--model", metavar="DIR", help="Whisper or Vosk model folder")
    p.add_argument("--wake-word", metavar="WORD",
                   help='every command begins with WORD ("coach faster"): for noisy gyms; '
                        'overrides the script\'s wake_word ("" turns it off)')
    p.add_argument("--voice", help="voice id or name (voicecoach voices)")
    p.add_argument("--rate", type=int, help="speech rate, words per minute")
    p.add_argument("--volume", type=float, help="0 to 1")
    p.add_argument("--json", action="store_true", help="print the timeline as JSON lines")
    p.add_argument("-q", "--quiet", action="store_true", help="no timeline, only the summary")
    p.add_argument("--no-journal", action="store_true",
                   help="keep this session out of the journal (voicecoach history)")


def cmd_track(args: argparse.Namespace) -> int:
    from .simulate import parse_say
    from .track import USER_VOICE, build_track, write_track
    says = [parse_say(s) for s in args.say]
    track = build_track(says, voice=args.voice or USER_VOICE, rate=args.rate)
    write_track(args.output, track)
    print(f"{args.output}: {len(says)} phrases, {len(track) / 22050:.1f} s", file=sys.stderr)
    return 0


def cmd_bench_live(args: argparse.Namespace) -> int:
    from .bench_live import run
    result = run(progress=lambda m: print(m, file=sys.stderr), engine=args.engine)
    from .cli import print_figures
    print_figures(result, args.json)
    return 0


def cmd_bench_soak(args: argparse.Namespace) -> int:
    from .bench_soak import run
    if not 0 < args.minutes <= 600:
        raise UserError(f"--minutes {args.minutes:g}: give 1 to 600")
    result = run(args.data, engine=args.engine, seconds=args.minutes * 60,
                 wake_word=args.wake_word, keep_log=args.log, progress=lambda m: print(m, file=sys.stderr))
    from .cli import print_figures
    print_figures(result, args.json)
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from .live import list_devices
    devices = list_devices()
    if args.json:
        for d in devices:
            print(json.dumps(d))
        return 0
    if not devices:
        print("no audio devices found", file=sys.stderr)
        return 1
    for d in devices:
        marks = " ".join(m for m, on in (("default input", d["default_input"]),
                                          ("default output", d["default_output"])) if on)
        print(f"{d['index']:>3}  {d['name']:<32} in {d['inputs']:>2}  out {d['outputs']:>2}  "
              f"{d['rate']} Hz  {marks}".rstrip())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .cli_session import _load_or_report
    if args.fast and not args.input:
        raise UserError("--fast needs --input WAV: a microphone can only run in real time")
    script = _load_or_report(args.script)
    if script is None:
        return 1
    return run_session(args, script)


def cmd_resume(args: argparse.Namespace) -> int:
    from . import journal
    from .script import ScriptError, load_script
    from .session import Progress
    if args.fast and not args.input:
        raise UserError("--fast needs --input WAV: a microphone can only run in real time")
    db = journal.open_for_reading()
    try:
        if args.session:
            earlier = journal.find_session(db, args.session)
            if not earlier.resumable:
                raise UserError(f"session {earlier.id} cannot be resumed: "
                                + ("it never started" if earlier.outcome in (None, "interrupted")
                                   else f"it ended ({earlier.outcome.replace('_', ' ')})"))
        else:
            earlier = journal.resumable(db)
            if earlier is None:
                raise UserError("no unfinished session to resume (voicecoach history lists them)")
    finally:
        db.close()
    try:
        script = load_script(earlier.script_path)
    except ScriptError as e:
        raise UserError(f"session {earlier.id} ran {earlier.script_path}, which cannot be "
                        f"loaded now: {e.problems[0]}") from None
    if [s.name for s in script.program().steps] != [s["name"] for s in earlier.program["steps"]]:
        print(f"voicecoach: warning: {earlier.script_path} has changed since session "
              f"{earlier.id}; carrying on at the same step number", file=sys.stderr)
    progress = Progress(**earlier.progress)
    if not args.yes and sys.stdin.isatty() and sys.stderr.isatty():
        from .clock import VirtualClock
        from .session import Session
        question = Session(script, VirtualClock(), resume=progress).resume_question()
        # Asked on stderr, the terminal, so that stdout stays the timeline (--json).
        print(f"{question} [Y/n] ", end="", file=sys.stderr, flush=True)
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("", "y", "yes"):
            print("not resumed", file=sys.stderr)
            return 1
        args.yes = True
    return run_session(args, script, resume=progress, resumed_from=earlier.id)


def run_session(args: argparse.Namespace, script, resume=None, resumed_from: int | None = None) -> int:
    """A live (or virtual-time) session of `script`, fresh or continued from `resume`."""
    from .cli_session import format_event
    from .clock import RealClock, VirtualClock
    from .journal import SessionJournal
    from .listen.registry import make_engine
    from .listen.listener import Listener
    from .live import FileInput, LiveCoach, MicrophoneInput, StatusLine
    from .session import Session, speakable_texts
    from .speak import SAMPLE_RATE
    from .speak.live import Speaker
    from .speak.player import Player, duration_from, sounds_from
    from .speak.sinks import SoundDeviceSink, WavSink
    from .speak.tts import Renderer, VoiceSettings
    from .vocabulary import VocabularyError

    # Outputs first: a log that cannot be written is said now, not after the speech is rendered.
    from .cli import open_output
    log_file = open_output(args.log, "--log") if args.log else None
    if args.output:
        open_output(args.output, "--output", binary=True).close()
    clock = VirtualClock() if args.fast else RealClock()
    source = FileInput(args.input, clock) if args.input else MicrophoneInput(
        args.input_device, rate=args.input_rate)
    if args.wake_word is not None:
        # One script for every stage: the listener's phrases, help, what is rendered ahead.
        script = script.model_copy(update={"wake_word": args.wake_word})
    try:
        vocabulary = script.vocabulary()
    except VocabularyError as e:
        raise UserError(f"--wake-word: {e}") from None
    listener = Listener(vocabulary, make_engine(vocabulary, args.engine, args.model),
                        sample_rate=source.rate, channels=source.channels)

    renderer = Renderer(VoiceSettings.for_script(script, args.voice, args.rate, args.volume))
    interactive = sys.stderr.isatty() and not args.quiet
    renderer.prerender(speakable_texts(script), progress=interactive)
    listener.engine.wait_ready()      # its model loaded while the cues were rendered
    sound_of = sounds_from(renderer)

    with contextlib.ExitStack() as stack:
        stack.callback(renderer.close)
        stack.callback(source.close)
        log = stack.enter_context(log_file) if log_file else None
        speaker = None
        if args.fast:
            # Virtual time: the output is placed on the input's timeline sample by sample.
            player = Player(WavSink(args.output), sound_of) if args.output else None
            play = player.handle if player else (lambda action: None)
        else:
            recording = WavSink(args.output) if args.output else None
            if recording:
                stack.callback(recording.close)     # after the output has drained into it

            def open_sink():
                device = SoundDeviceSink(_output_device(args.output_device))
                return _Tee([device, recording]) if recording else device
            speaker = Speaker(script, renderer, open_sink)
            speaker.start()
            stack.callback(speaker.close)
            play = speaker.on_speech

        printer = None if args.quiet else (
            (lambda e: print(json.dumps(e.to_json(), ensure_ascii=False), flush=True)) if args.json
            else (lambda e: print(format_event(e), flush=True)))
        status = StatusLine()
        coach: LiveCoach

        def on_event(e):
            status.clear()
            coach.timeline(e)

        def on_speech(action):
            coach.spoke(action)
            play(action)

        session = Session(script, clock, duration_of=duration_from(sound_of, SAMPLE_RATE),
                          on_event=on_event, on_speech=on_speech, resume=resume)
        record = None
        if not args.no_journal:
            record = SessionJournal()
            stack.callback(record.close)
            record.begin(script, mode="fast" if args.fast else "live", resumed_from=resumed_from)
        interrupted = False
        coach = LiveCoach(session, listener, source, clock, earbuds=args.earbuds, log=log,
                          on_event=printer, status=status if interactive else None,
                          output=speaker, journal=record)
        try:
            coach.run(answer="yes" if resume is not None and args.yes else None)
        except KeyboardInterrupt:
            interrupted = True
            status.clear()
            session.interrupt()
            try:
                coach.finish_speaking()         # "Session ended after ..."; Ctrl-C again: now
            except KeyboardInterrupt:
                pass
        status.clear()
        if record is not None:
            record.end(session.outcome, session.progress().to_json())
        if args.fast and player is not None:
            player.write_until(clock.now())
            player.finish()
        print(coach.summary(), file=sys.stderr)
    # One rule for Ctrl-C, wherever it comes: exit status 130 (the shell's for SIGINT); here
    # after the session has been ended, journaled as interrupted and summed up.
    return 130 if interrupted else 0


def _output_device(spec):
    from .live import find_device
    return find_device(spec, "output")


class _Tee:
    """One output to several sinks: the earbuds and a recording of them."""

    def __init__(self, sinks) -> None:
        self.sinks = sinks
        self.samplerate = sinks[0].samplerate
        self.realtime = any(getattr(s, "realtime", False) for s in sinks)

    @property
    def frames_played(self) -> int:
        return getattr(self.sinks[0], "frames_played", 1)

    def write(self, frames) -> None:
        for s in self.sinks:
            s.write(frames)

    def close(self) -> None:
        # The recording outlives a lost device: it is closed once, at the end of the run.
        for s in self.sinks[:1]:
            s.close()
