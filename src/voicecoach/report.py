"""A picture of one journaled session: target speed over time, every cue and command as a
marker, pauses shaded, step changes marked (matplotlib, drawn off-screen)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .journal import SessionRecord

# States in which the program's clock stands still, and how they are shaded.
HALTED = {"paused": "paused", "confirming_end": "paused", "ready": "not started",
          "offering_resume": "not started"}


@dataclass
class Timeline:
    """What the picture shows, read from the journal's events (times in session seconds)."""
    speed: list[tuple[float, float]] = field(default_factory=list)       # (t, target speed)
    halts: list[tuple[float, float, str]] = field(default_factory=list)  # (from, to, kind)
    steps: list[tuple[float, int, str]] = field(default_factory=list)    # (t, number, name)
    cues: list[tuple[float, str]] = field(default_factory=list)
    understood: list[tuple[float, str, str]] = field(default_factory=list)  # (t, phrase, intent)
    not_understood: list[tuple[float, str]] = field(default_factory=list)
    troubles: list[tuple[float, str]] = field(default_factory=list)       # devices lost and back
    end: float = 0.0


def timeline(record: SessionRecord, events: Iterable[dict[str, Any]]) -> Timeline:
    steps = {s["number"]: s for s in record.program.get("steps", [])}
    tl = Timeline()
    halted: tuple[float, str] | None = None
    offset = 0.0
    for e in events:
        t = float(e["t"])
        tl.end = max(tl.end, t + float(e.get("duration") or 0.0))
        kind = e["type"]
        if kind == "state":
            if halted is not None:
                tl.halts.append((halted[0], t, halted[1]))
                halted = None
            if e["state"] in HALTED:
                halted = (t, HALTED[e["state"]])
            progress = e.get("progress")
            if progress and progress.get("step_index", -1) >= 0:     # a resumed session's start
                number = progress["step_index"] + 1
                offset = progress.get("speed_offset", 0.0)
                if number in steps:
                    tl.speed.append((t, steps[number]["speed"] + offset))
        elif kind == "step":
            number = e.get("step")
            name = steps.get(number, {}).get("name", "")
            tl.steps.append((t, number, name))
            if e.get("speed") is not None:
                tl.speed.append((t, float(e["speed"])))
        elif kind == "response" and e.get("speed") is not None:
            tl.speed.append((t, float(e["speed"])))
        elif kind == "cue":
            tl.cues.append((t, e.get("text") or ""))
        elif kind == "command" and not (e.get("text") or "").startswith("("):
            if e.get("intent"):
                tl.understood.append((t, e.get("text") or "", e["intent"]))
            else:
                tl.not_understood.append((t, e.get("text") or ""))
        elif kind == "device":
            tl.troubles.append((t, e.get("text") or ""))
    if halted is not None:
        tl.halts.append((halted[0], tl.end, halted[1]))
    return tl


def draw(record: SessionRecord, events: Iterable[dict[str, Any]], path: str | Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")              # no screen: draw into a file
    import matplotlib.pyplot as plt

    tl = timeline(record, list(events))
    units = record.program.get("units", "mph")
    m = 1 / 60                         # seconds -> minutes on the x axis
    end = max(tl.end, 1.0)
    fig, ax = plt.subplots(figsize=(12, 5.5), dpi=100)
    try:
        speeds = [v for _, v in tl.speed] or [s["speed"] for s in record.program.get("steps", [])] or [1.0]
        low, high = min(speeds), max(speeds)
        pad = max(0.3, (high - low) * 0.25)
        bottom, top = max(0.0, low - 3.2 * pad), high + 2.2 * pad
        ax.set_ylim(bottom, top)
        ax.set_xlim(0, end * m)

        shades = {"paused": ("#f4a261", 0.30), "not started": ("#adb5bd", 0.25)}
        labelled = set()
        for start, stop, kind in tl.halts:
            colour, alpha = shades[kind]
            ax.axvspan(start * m, stop * m, color=colour, alpha=alpha, lw=0,
                       label=kind if kind not in labelled else None)
            labelled.add(kind)

        if tl.speed:
            xs = [t * m for t, _ in tl.speed] + [end * m]
            ys = [v for _, v in tl.speed] + [tl.speed[-1][1]]
            ax.step(xs, ys, where="post", color="#1d3557", lw=2.2, label=f"target speed ({units})")

        for t, number, name in tl.steps:
            ax.axvline(t * m, color="#457b9d", ls=":", lw=1)
            ax.text(t * m, top - 0.04 * (top - bottom), f" {number}. {name}", fontsize=8,
                    color="#457b9d", va="top", ha="left", rotation=0, clip_on=True)

        cue_y = bottom + 0.27 * (top - bottom)      # above the commands' labels
        cmd_y = bottom + 0.06 * (top - bottom)
        if tl.cues:
            ax.plot([t * m for t, _ in tl.cues], [cue_y] * len(tl.cues), "v", color="#2a9d8f",
                    ms=7, label=f"cue ({len(tl.cues)})")
        if tl.understood:
            ax.plot([t * m for t, *_ in tl.understood], [cmd_y] * len(tl.understood), "o",
                    color="#2b9348", ms=7, label=f"command understood ({len(tl.understood)})")
            for i, (t, phrase, intent) in enumerate(tl.understood):
                ax.annotate(phrase if phrase == intent else f"{phrase} → {intent}", (t * m, cmd_y),
                            xytext=(0, 9 + 9 * (i % 3)), textcoords="offset points", fontsize=7,
                            ha="center", color="#2b9348")
        if tl.not_understood:
            ax.plot([t * m for t, _ in tl.not_understood], [cmd_y] * len(tl.not_understood), "x",
                    color="#d62828", ms=8, mew=2,
                    label=f"not understood ({len(tl.not_understood)})")
        for t, text in tl.troubles:
            ax.axvline(t * m, color="#d62828", lw=1.5)
            ax.text(t * m, bottom + 0.25 * (top - bottom), f" {text[:40]}", fontsize=7,
                    color="#d62828", rotation=90, va="bottom")

        import datetime as dt
        when = dt.datetime.fromtimestamp(record.started).strftime("%Y-%m-%d %H:%M")
        outcome = (record.outcome or "unfinished").replace("_", " ")
        resumed = f", resumed from #{record.resumed_from}" if record.resumed_from else ""
        ax.set_title(f"#{record.id} {record.title}: {when}, {outcome}{resumed}; "
                     f"worked {_mmss(record.worked)}", fontsize=11)
        ax.set_xlabel("session time (minutes)")
        ax.set_ylabel(f"target speed ({units})")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out)
    finally:
        plt.close(fig)
    return out


def _mmss(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"
