"""Subcommands over the session journal: history, report, prune, bench journal."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from .errors import UserError


def _count(text: str) -> int:
    """A count for -n: a whole number 0 or more; beyond any journal's size it means all."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is below 0")
    return min(n, 10**9)


def register(sub, bench_sub) -> None:
    p = sub.add_parser("history", help="list past sessions",
                       description="Sessions in the journal, newest first: date, script, time "
                                   "worked, how it ended, commands understood and not.")
    p.add_argument("-n", "--limit", type=_count, default=20, metavar="N", help="at most N (default 20; 0: all)")
    p.add_argument("--json", action="store_true", help="one JSON object per session")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("report", help="draw a session's timeline",
                       description="Draw SESSION (a number from history, or 'last'): target speed "
                                   "over time, cues and commands as markers, pauses shaded.")
    p.add_argument("session", nargs="?", default="last", metavar="SESSION")
    p.add_argument("-o", "--output", metavar="PNG", help="image file (default session-N.png)")
    p.add_argument("--json", action="store_true", help="print the session and its raw events as JSON")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("prune", help="delete old sessions from the journal",
                       description="Delete old sessions and their events, and give the space back. "
                                   "(The journal also keeps at most 1000 sessions by itself.)")
    p.add_argument("--keep", type=int, metavar="N", help="keep only the newest N sessions")
    p.add_argument("--older-than", type=float, metavar="DAYS", help="delete sessions older than DAYS")
    p.set_defaults(func=cmd_prune)

    p = bench_sub.add_parser("journal", help="how long writing an event to the journal takes")
    p.add_argument("--events", type=int, default=500)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_journal)


def _outcome(s) -> str:
    text = (s.outcome or ("unfinished" if s.resumable else "never started")).replace("_", " ")
    if s.resumed_from:
        text += f" (resumed #{s.resumed_from})"
    return text


def cmd_history(args: argparse.Namespace) -> int:
    from . import journal
    from .session import format_time
    db = journal.open_for_reading()
    try:
        found = journal.sessions(db, limit=args.limit or None)
    finally:
        db.close()
    if args.json:
        for s in found:
            print(json.dumps({"id": s.id, "started": dt.datetime.fromtimestamp(s.started).isoformat(
                timespec="seconds"), "script": s.script_path, "title": s.title,
                "duration": round(s.length, 1), "worked": round(s.worked, 1), "outcome": s.outcome, "completed": s.outcome == "completed",
                "resumable": s.resumable, "resumed_from": s.resumed_from,
                "understood": s.understood, "not_understood": s.not_understood}, ensure_ascii=False))
        return 0
    if not found:
        print("no sessions yet", file=sys.stderr)
        return 0
    print(f"{'#':>4}  {'date':<16}  {'script':<30}  {'length':>7}  {'worked':>7}  {'outcome':<30}  "
          "understood  not")
    for s in found:
        when = dt.datetime.fromtimestamp(s.started).strftime("%Y-%m-%d %H:%M")
        title = s.title if len(s.title) <= 30 else s.title[:29] + "…"
        print(f"{s.id:>4}  {when:<16}  {title:<30}  {format_time(s.length)[:-2]:>7}  "
              f"{format_time(s.worked)[:-2]:>7}  "
              f"{_outcome(s):<30}  {s.understood:>10}  {s.not_understood:>3}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from . import journal
    db = journal.open_for_reading()
    try:
        record = journal.find_session(db, args.session)
        events = list(journal.events(db, record.id))
    finally:
        db.close()
    if args.json:
        print(json.dumps({"session": record.to_json(), "events": events}, ensure_ascii=False))
        return 0
    from .report import draw
    out = args.output or f"session-{record.id}.png"
    try:
        draw(record, events, out)
    except OSError as e:
        raise UserError(f"{out}: cannot write the report ({e.strerror or e})") from None
    except ValueError as e:          # matplotlib: an unknown image format
        raise UserError(f"{out}: {e}") from None
    print(f"{out}: session {record.id}, {len(events)} events", file=sys.stderr)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from . import journal
    if args.keep is None and args.older_than is None:
        raise UserError("say what to prune: --keep N (newest sessions) and/or --older-than DAYS")
    if (args.keep is not None and args.keep < 0) or (args.older_than is not None and args.older_than < 0):
        raise UserError("--keep and --older-than take numbers of 0 or more")
    path = journal.journal_path()
    db = journal.open_for_reading(path)
    try:
        gone = journal.prune(db, keep=args.keep, older_than_days=args.older_than)
        left = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
    finally:
        db.close()
    print(f"pruned {gone} sessions; {left} left; {path} is {path.stat().st_size / 1024:.0f} KB")
    return 0


def cmd_bench_journal(args: argparse.Namespace) -> int:
    """Per-event write time with every commit on disk (synchronous=FULL, WAL)."""
    import statistics
    import tempfile
    import time
    from pathlib import Path
    from .journal import SessionJournal, connect
    from .script import load_script
    script = load_script(Path(__file__).resolve().parents[2] / "scripts" / "backwards-walk.yaml")
    from .models import data_dir
    data_dir().mkdir(parents=True, exist_ok=True)
    # On the journal's own file system: what fsync costs there is what a session pays.
    with tempfile.TemporaryDirectory(dir=data_dir(), prefix="bench-journal-") as tmp:
        path = Path(tmp) / "journal.sqlite3"
        t0 = time.perf_counter()
        record = SessionJournal(path)
        opened = time.perf_counter() - t0
        record.begin(script, mode="bench")
        progress = {"state": "running", "step_index": 1, "position": 12.0, "worked": 102.0,
                    "speed_offset": 0.0, "step_offset": 0.0}
        times = []
        for i in range(args.events):
            event = {"t": i * 1.0, "wall": time.time(), "type": "cue", "state": "running", "step": 2,
                     "text": "Let go of the rails.", "utterance": i, "duration": 1.8}
            t0 = time.perf_counter()
            record.record(event, progress)
            times.append(time.perf_counter() - t0)
        record.end("completed", progress)
        record.close()
        size = path.stat().st_size
        db = connect(path)
        stored = db.execute("SELECT count(*) FROM events").fetchone()[0]
        db.close()
    times.sort()
    from .cli import print_figures
    print_figures({
        "events": args.events, "stored": stored,
        "open_ms": round(opened * 1000, 2),
        "write_ms_p50": round(statistics.median(times) * 1000, 2),
        "write_ms_p95": round(times[int(0.95 * (len(times) - 1))] * 1000, 2),
        "write_ms_max": round(times[-1] * 1000, 2),
        "bytes_per_event": round(size / max(1, stored)),
    }, args.json)
    return 0
