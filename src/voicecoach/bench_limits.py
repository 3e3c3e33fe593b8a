"""`voicecoach bench limits`: what the largest scripts `check` accepts cost before a word is
spoken (issue 13: every accepted script simulates in under 2 s and starts `run --fast` in
under 10 s, with bounded memory).

Three scripts at the limits (script.py: 500 steps written, 1,000 once repeats are counted out,
10,000 cue moments), each with a distinct spoken text per step (the worst case for the speech
rendered ahead):
- `steps`: 500 steps of 30 s, each with its own cue and an `every: 10s` reminder;
- `repeats`: 10 blocks of `repeat: 50` around two steps of their own (1,000 steps);
- `long`: three 4-hour steps with an `every: 5s` cue each (8,640 cue moments).
Each is timed as a user meets it, one fresh process per command: `check`, `simulate` (whole
command), and `run --fast` on one second of silence, with an empty speech cache (cold) and
again with the cache it left (warm). Peak RSS is the process's own (ru_maxrss).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Runs one command in a child and prints its wall time and peak RSS: a fresh process per
# figure, so that each RSS is that command's alone.
_MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"seconds": time.perf_counter() - t, "status": done.returncode,
                  "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "stderr": done.stderr[-2000:]}))
"""


def scripts() -> dict[str, str]:
    def step(n: int, indent: str = "  ") -> str:
        return (f"{indent}- name: Step {n}\n{indent}  duration: 30s\n{indent}  speed: {1.0 + (n % 20) / 10:.1f}\n"
                f"{indent}  cues:\n{indent}    - at: 5s\n{indent}      say: Step {n}, let go of the rails.\n"
                f"{indent}    - every: 10s\n{indent}      say: Stand tall for step {n}.\n")
    head = "title: {title}\nunits: mph\nprogression: {{min_speed: 0.5, max_speed: 4.0}}\nsteps:\n"
    out = {"steps": head.format(title="Five hundred steps") + "".join(step(n) for n in range(1, 501))}
    blocks = "".join(f"  - repeat: 50\n    steps:\n{step(2 * b + 1, '      ')}{step(2 * b + 2, '      ')}"
                     for b in range(10))
    out["repeats"] = head.format(title="Ten blocks of fifty") + blocks
    long = "".join(f"  - name: Long {n}\n    duration: 4h\n    speed: 2.0\n    cues:\n"
                   f"      - every: 5s\n        say: Keep going, part {n}.\n" for n in (1, 2, 3))
    out["long"] = head.format(title="Twelve hours") + long
    return out


def _measure(argv: list[str], env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True,
                          text=True, env=env)
    return json.loads(done.stdout)


def run(progress=print) -> dict:
    import soundfile as sf
    exe = [sys.executable, "-m", "voicecoach.cli"]
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="voicecoach-limits-") as work:
        work = Path(work)
        silence = work / "silence.wav"
        sf.write(silence, np.zeros(16000, np.int16), 16000, subtype="PCM_16")
        for name, text in scripts().items():
            path = work / f"{name}.yaml"
            path.write_text(text, encoding="utf-8")
            env = dict(os.environ, VOICECOACH_CACHE_DIR=str(work / f"cache-{name}"),
                       VOICECOACH_DATA_DIR=str(work / f"data-{name}"))
            row = {}
            for label, argv in (("check", ["check", str(path)]),
                                ("simulate", ["simulate", str(path), "--say", "0:02 go"]),
                                ("run_cold", ["run", str(path), "--input", str(silence), "--fast",
                                              "--no-journal", "-q"]),
                                ("run_warm", ["run", str(path), "--input", str(silence), "--fast",
                                              "--no-journal", "-q"])):
                m = _measure(exe + argv, env)
                if m["status"] != 0:
                    raise RuntimeError(f"{name}: {label} exited {m['status']}: {m['stderr']}")
                row[f"{label}_s"] = round(m["seconds"], 2)
                row[f"{label}_rss_mb"] = round(m["rss_mb"])
            figures[name] = row
            progress(f"limits: {name}: " + ", ".join(f"{k} {v}" for k, v in row.items()))
    return {"scripts": figures,
            "worst_simulate_s": max(r["simulate_s"] for r in figures.values()),
            "worst_run_cold_s": max(r["run_cold_s"] for r in figures.values()),
            "worst_rss_mb": max(max(v for k, v in r.items() if k.endswith("rss_mb"))
                                for r in figures.values())}
