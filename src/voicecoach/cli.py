"""The `voicecoach` command. It only parses arguments and wires stages together; each group of
subcommands lives beside the stage it drives and registers itself here."""
from __future__ import annotations

import argparse
import importlib
import json
import sqlite3
import sys

from . import __version__
from .errors import UserError

# Each module has register(subparsers, bench_subparsers) that adds its subcommands, every one
# with set_defaults(func=handler); a handler returns the exit status.
COMMAND_MODULES = (
    "voicecoach.cli_session",   # check, simulate, diagram, bench simulate
    "voicecoach.cli_listen",    # transcribe, models, bench listen
    "voicecoach.cli_speak",     # voices, render, bench speak
    "voicecoach.cli_live",      # run, resume, track, devices, bench live
    "voicecoach.cli_journal",   # history, report, prune, bench journal
)


def print_figures(figures: dict, as_json: bool = False) -> None:
    """A benchmark's figures: one JSON object, or one aligned line per figure."""
    if as_json:
        print(json.dumps(figures))
        return
    width = max(map(len, figures), default=0)
    for name, value in figures.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            print(f"{name:>{width}}:")     # a table: one line per row
            for row, cells in value.items():
                print(f"{'':>{width}}  {row}: " + ", ".join(f"{k} {v}" for k, v in cells.items()))
        else:
            print(f"{name:>{width}}: {value}")


def open_output(path: str, option: str, binary: bool = False):
    """A file to write, opened now; a UserError naming the option when it cannot be."""
    from pathlib import Path
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{option} {path}: is a folder; give a file name")
    if not p.parent.is_dir():
        raise UserError(f"{option} {path}: the folder {p.parent} does not exist")
    try:
        return open(p, "wb") if binary else open(p, "w", encoding="utf-8")
    except OSError as e:
        raise UserError(f"{option} {path}: cannot be written ({e.strerror or e})") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voicecoach", description="Offline, voice-first audio coach.")
    parser.add_argument("--version", action="version", version=f"voicecoach {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench = sub.add_parser("bench", help="print performance figures")
    bench_sub = bench.add_subparsers(dest="bench", metavar="WHAT", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, bench_sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"voicecoach: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        print("voicecoach: interrupted", file=sys.stderr)
        return 130
    except sqlite3.DatabaseError as e:
        # The journal is checked when it opens (journal.connect); damage that shows only
        # later, while it is read, still ends in a message and not a traceback.
        from .journal import journal_path
        print(f"voicecoach: the journal {journal_path()} could not be read ({e}); move it "
              "aside (its sessions stay in it) and voicecoach begins a new one", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
