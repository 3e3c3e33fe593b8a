"""Subcommands of the speaking stage: `voices`, `render`, `bench speak`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


DEFAULT_BENCH_SCRIPT = Path("scripts/backwards-walk.yaml")


def _voice_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("voice (overrides the script's)")
    g.add_argument("--voice", help="voice id, name or language (see `voicecoach voices`)")
    g.add_argument("--rate", type=int, help="words per minute (80-450)")
    g.add_argument("--volume", type=float, help="0 to 1")


def register(sub, bench_sub) -> None:
    p = sub.add_parser("voices", help="list the speech voices this machine has")
    p.add_argument("--language", help="only voices for this language (prefix, e.g. en)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_voices)

    p = sub.add_parser("render", help="render a whole session to one WAV (and subtitles)",
                       description="Render the simulated session of SCRIPT to a WAV file, much "
                                   "faster than real time, so a trainer can listen to it.")
    p.add_argument("script", type=Path, metavar="SCRIPT")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="WAV")
    p.add_argument("--say", action="append", default=[], metavar='"M:SS words"',
                   help='a command spoken at a time, e.g. --say "0:05 go" (repeatable)')
    p.add_argument("--subtitles", type=Path, metavar="VTT", help="also write WebVTT subtitles")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _voice_options(p)
    p.set_defaults(func=cmd_render)

    p = bench_sub.add_parser("speak", help="rendering and acknowledgement latency figures")
    p.add_argument("script", type=Path, nargs="?", default=DEFAULT_BENCH_SCRIPT, metavar="SCRIPT")
    p.add_argument("--trials", type=int, default=20, help="acknowledgements to time")
    p.add_argument("--device", help="output device for the latency figure (default: default)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every latency measured")
    _voice_options(p)
    p.set_defaults(func=cmd_bench_speak)


def cmd_voices(args) -> int:
    from .speak.tts import Renderer
    with Renderer() as renderer:
        voices = renderer.voices()
    if args.language:
        lang = args.language.lower()
        voices = [v for v in voices if any(l.lower().startswith(lang) for l in v["languages"])]
    for v in voices:
        if args.json:
            print(json.dumps(v))
        else:
            print(f"{v['id']:<24} {v['name']:<32} {','.join(v['languages']):<12} "
                  f"{v.get('gender') or ''}")
    return 0


def cmd_render(args) -> int:
    from .simulate import parse_say
    from .speak.preview import render_preview
    from .cli import open_output
    says = [parse_say(s) for s in args.say]
    # Outputs first: one that cannot be written is said before the session is rendered.
    open_output(args.output, "--output", binary=True).close()
    if args.subtitles:
        open_output(args.subtitles, "--subtitles").close()
    result = render_preview(args.script, args.output, says=says, subtitles=args.subtitles,
                            voice=args.voice, rate=args.rate, volume=args.volume,
                            progress=not args.no_progress and sys.stderr.isatty())
    if result.auto_go:
        t, phrase = result.auto_go
        print(f'no --say given: "{phrase}" said at {int(t // 60)}:{t % 60:04.1f}, after the welcome')
    spoken = len(result.placed)
    pr = result.prerender
    print(f"{args.output}: {result.audio_seconds:.1f} s of audio, {spoken} things said, "
          f"rendered in {result.wall_seconds:.2f} s "
          f"({result.audio_seconds / max(result.wall_seconds, 1e-9):.0f}x real time)")
    if pr:
        print(f"speech: {pr.texts} texts known in advance ({pr.from_cache} cached, "
              f"{pr.rendered} rendered in {pr.seconds:.2f} s); "
              f"{len(result.on_demand)} rendered on demand")
    if args.subtitles:
        print(f"{args.subtitles}: subtitles")
    for problem in dict.fromkeys(result.problems):
        print(f"warning: {problem} (espeak-ng used instead)", file=sys.stderr)
    return 0


def cmd_bench_speak(args) -> int:
    from .speak import bench
    return bench.main(args)
