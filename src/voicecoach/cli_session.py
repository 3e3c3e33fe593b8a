"""Subcommands for cue scripts, the session machine and simulated sessions: check, simulate,
diagram, bench simulate."""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time

from .errors import UserError
from .events import COMMAND, DROPPED, TimelineEvent
from .script import ScriptError, format_duration, load_script
from .session import format_time
from .simulate import parse_say, simulate


def register(sub, bench_sub) -> None:
    p = sub.add_parser("check", help="validate cue scripts",
                       description="Validate cue scripts. Problems go to stderr as "
                                   "file:line:col: message; exit status 1 if any script is invalid.")
    p.add_argument("scripts", nargs="+", metavar="SCRIPT")
    p.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("simulate", help="run a whole session instantly in virtual time",
                       description="Run SCRIPT in virtual time with spoken commands given as text, "
                                   "and print the timeline.")
    p.add_argument("script", metavar="SCRIPT")
    p.add_argument("--say", action="append", default=[], metavar='"M:SS PHRASE"',
                   help='a command said at a time, e.g. --say "0:05 go" (repeatable)')
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p.add_argument("--until", type=float, metavar="SECONDS", help="stop the simulation here")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("diagram", help="draw the session state machine",
                       description="Draw the session machine (state_machines/session.yaml): every "
                                   "state and which command moves between them. Mermaid text by "
                                   "default (stdout, or -o FILE.mmd); -o FILE.png/.svg/.pdf draws an "
                                   "image with graphviz; -o FILE.dot writes graphviz text.")
    p.add_argument("-o", "--output", metavar="FILE")
    p.set_defaults(func=cmd_diagram)

    p = bench_sub.add_parser("simulate", help="how fast a whole session simulates")
    p.add_argument("script", metavar="SCRIPT")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_simulate)

    p = bench_sub.add_parser("limits", help="what the largest scripts check accepts cost to "
                                            "check, simulate and start")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_limits)


def _load_or_report(path: str):
    try:
        return load_script(path)
    except ScriptError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return None


def cmd_check(args: argparse.Namespace) -> int:
    status = 0
    for path in args.scripts:
        script = _load_or_report(path)
        if script is None:
            status = 1
            continue
        if not args.quiet:
            program = script.program()
            cues = sum(len(s.cue_times()) for s in program.steps)
            print(f"{path}: ok: {script.title!r}, {len(program.steps)} steps, "
                  f"{format_duration(program.duration)}, {cues} cues")
    return status


def cmd_simulate(args: argparse.Namespace) -> int:
    says = [parse_say(s) for s in args.say]
    script = _load_or_report(args.script)
    if script is None:
        return 1
    events = simulate(script, says, until=args.until)
    out = sys.stdout
    for e in events:
        out.write((json.dumps(e.to_json(), ensure_ascii=False) if args.json else format_event(e)) + "\n")
    return 0


def format_event(e: TimelineEvent) -> str:
    """One timeline line: time, type, state, then what happened."""
    if e.type == COMMAND:
        what = f'"{e.text}" -> {e.intent}' if e.intent else f'"{e.text}" -> not understood'
    elif e.type == DROPPED:
        what = f"({e.extra.get('reason')}) {e.text}"
    elif e.extra.get("earcon"):
        what = f"[{e.extra['earcon']}]"
    else:
        what = e.text
    return f"{format_time(e.t):>7}  {e.type:<8}  {e.state:<14}  {what}".rstrip()


def cmd_bench_limits(args: argparse.Namespace) -> int:
    from .bench_limits import run
    result = run(progress=lambda m: print(m, file=sys.stderr))
    from .cli import print_figures
    print_figures(result, args.json)
    return 0


def cmd_bench_simulate(args: argparse.Namespace) -> int:
    script = _load_or_report(args.script)
    if script is None:
        return 1
    program = script.program()
    # A busy user: go, then a command every 20 s through the session.
    phrases = ["how long", "faster", "slower", "repeat", "pause", "go", "help", "what"]
    says = [(2.0, "go")] + [(10.0 + 20 * i, phrases[i % len(phrases)])
                            for i in range(int(program.duration // 20))]
    times, events = [], 0
    for _ in range(max(1, args.runs)):
        t0 = time.perf_counter()
        events = len(simulate(script, says))
        times.append(time.perf_counter() - t0)
    result = {
        "script": args.script,
        "session_seconds": program.duration,
        "commands": len(says),
        "events": events,
        "runs": len(times),
        "seconds_median": round(statistics.median(times), 4),
        "seconds_max": round(max(times), 4),
        "simulated_minutes_per_second": round(program.duration / 60 / statistics.median(times), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    from .cli import print_figures
    print_figures(result, args.json)
    return 0


IMAGE_FORMATS = (".png", ".svg", ".pdf")


def cmd_diagram(args: argparse.Namespace) -> int:
    import shutil
    import subprocess
    from pathlib import Path
    from .machine import load_definition, to_dot, to_mermaid
    definition = load_definition()
    if not args.output:
        sys.stdout.write(to_mermaid(definition))
        return 0
    out = Path(args.output)
    suffix = out.suffix.lower()
    try:
        if suffix in IMAGE_FORMATS:
            dot = shutil.which("dot")
            if dot is None:
                raise UserError(f"{out}: drawing an image needs graphviz, which is not installed "
                                "(apt install graphviz); -o FILE.mmd writes mermaid text instead")
            done = subprocess.run([dot, f"-T{suffix[1:]}", "-o", str(out)], input=to_dot(definition),
                                  text=True, capture_output=True, timeout=60)
            if done.returncode != 0:
                raise UserError(f"{out}: graphviz failed: {done.stderr.strip()[:200]}")
        else:
            out.write_text(to_dot(definition) if suffix in (".dot", ".gv") else to_mermaid(definition),
                           encoding="utf-8")
    except OSError as e:
        raise UserError(f"{out}: cannot write ({e.strerror or e})") from None
    print(f"{out}: {len(definition.states)} states, {len(definition.transitions)} transitions",
          file=sys.stderr)
    return 0
