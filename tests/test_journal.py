"""The session journal (SQLite, WAL): every event as it happens, durable across SIGKILL, resume
from where a session stopped, history, reports, pruning, and a journal that is damaged, locked
or from a newer version never costs a workout."""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import SCRIPTS
from voicecoach import journal
from voicecoach.cli import main
from voicecoach.live import CHECKPOINT_EVERY
from voicecoach.script import load_script

# Three short steps, no pauses planned: the program position is the session time since "go".
SCRIPT = """\
title: Journal walk
cue_gap: 1s
steps:
  - name: Find your feet
    duration: 40s
    speed: 1.0
    cues:
      - {at: 8s, say: Let go of the rails.}
      - {at: 22s, say: Watch the belt edge.}
  - name: Hands free
    duration: 40s
    speed: 1.2
    cues:
      - {every: 10s, say: [Stand tall., Swing your arms.]}
  - name: Cool down
    duration: 30s
    speed: 0.8
    cues:
      - {at: 10s, say: Nice and easy.}
"""
TIMELINE_KEYS = ("t", "type", "state", "text", "step")


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("VOICECOACH_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def walk(tmp_path_factory, clear_clips) -> dict:
    """The script and a track of real people saying go (1 s), faster (50 s), slower (75 s)."""
    from voicecoach.track import build_track, write_track
    folder = tmp_path_factory.mktemp("walk")
    script = folder / "walk.yaml"
    script.write_text(SCRIPT)
    track = folder / "user.wav"
    write_track(track, build_track([(1.0, f"@{clear_clips['go']}"), (50.0, f"@{clear_clips['up']}"),
                                    (75.0, f"@{clear_clips['down']}")]))
    go = folder / "go.wav"
    write_track(go, build_track([(1.0, f"@{clear_clips['go']}")]))
    stop = folder / "stop.wav"
    write_track(stop, build_track([(1.0, f"@{clear_clips['stop']}")]))
    return {"script": script, "track": track, "go": go, "stop": stop}


def cli(*argv: str, data: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, VOICECOACH_DATA_DIR=str(data))
    return subprocess.run([sys.executable, "-m", "voicecoach.cli", *argv], env=env, text=True,
                          capture_output=True, timeout=timeout)


def run_args(walk: dict, track: str = "track") -> list[str]:
    # Earbuds: the user may talk over the coach (the welcome is still playing at 1 s).
    return ["run", str(walk["script"]), "--input", str(walk[track]), "--fast", "--json", "--earbuds"]


def timeline_of(events) -> list[tuple]:
    """What a run printed (and the journal must hold), without wall-clock fields."""
    return [tuple(round(e[k], 3) if k == "t" else e.get(k) for k in TIMELINE_KEYS)
            for e in events if e["type"] in ("state", "step", "cue", "command", "response", "dropped")]


def stored(data: Path) -> tuple[list[journal.SessionRecord], dict[int, list[dict]]]:
    db = journal.connect(data / journal.FILE_NAME)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        found = journal.sessions(db)
        return found, {s.id: list(journal.events(db, s.id)) for s in found}
    finally:
        db.close()


@pytest.fixture(scope="module")
def reference(walk, tmp_path_factory) -> dict:
    """One whole uninterrupted run: what every killed run must be a prefix of."""
    data = tmp_path_factory.mktemp("reference")
    t0 = time.monotonic()
    done = cli(*run_args(walk), data=data)
    seconds = time.monotonic() - t0
    assert done.returncode == 0, done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    sessions, events = stored(data)
    assert len(sessions) == 1 and sessions[0].outcome == "completed"
    return {"printed": printed, "timeline": timeline_of(printed), "seconds": seconds,
            "session": sessions[0], "events": events[sessions[0].id]}


# --- what a session leaves in the journal -------------------------------------------------------

def test_a_session_is_journaled_as_it_happens(reference):
    s, events = reference["session"], reference["events"]
    # Everything the run printed is in the journal, in order, and so is what the listener heard.
    assert timeline_of(events) == reference["timeline"]
    heard = [e for e in events if e["type"] == "heard"]
    assert [e["intent"] for e in heard] == ["go", "faster", "slower"]
    assert all(0 < e["confidence"] <= 1 for e in heard)
    commands = [e for e in events if e["type"] == "command"]
    assert [e["intent"] for e in commands] == ["go", "faster", "slower"]
    assert all(e["confidence"] > 0 for e in commands)
    assert [e["step"] for e in events if e["type"] == "step"] == [1, 2, 3]
    assert [e["speed"] for e in events if e["type"] == "step"] == [1.0, 1.2, 0.8]
    # The session row: what ran, how it ended, where it got to.
    assert s.title == "Journal walk" and s.mode == "fast" and s.outcome == "completed"
    assert Path(s.script_path).name == "walk.yaml" and len(s.script_sha256) == 64
    assert [st["name"] for st in s.program["steps"]] == ["Find your feet", "Hands free", "Cool down"]
    assert s.worked == pytest.approx(110, abs=0.05)
    assert (s.understood, s.not_understood) == (3, 0)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_history_lists_sessions(walk, reference, data_dir, capsys):
    assert main(run_args(walk, "go") + ["-q"]) == 0
    assert main(run_args(walk, "stop") + ["-q"]) == 0      # stop, then no answer: stays ready
    capsys.readouterr()
    assert main(["history", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == [2, 1]                 # newest first
    assert rows[1]["completed"] and rows[1]["outcome"] == "completed"
    assert rows[1]["worked"] == pytest.approx(110, abs=0.1) and rows[1]["understood"] == 1
    assert rows[1]["duration"] > rows[1]["worked"]      # the welcome, the goodbye
    assert rows[0]["worked"] == 0 and not rows[0]["completed"]
    assert main(["history"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["#", "date", "script"]
    assert "Journal walk" in table[2] and "completed" in table[2] and "1:50" in table[2]


def test_no_journal_keeps_a_session_out(walk, data_dir, capsys):
    assert main(run_args(walk, "go") + ["-q", "--no-journal"]) == 0
    assert main(["history"]) == 2
    assert "no journal yet" in capsys.readouterr().err


# --- SIGKILL at random points -----------------------------------------------------------------

def kill_run(walk, data: Path, after_lines: int | None, after_seconds: float | None) -> list[dict]:
    """Start `run --fast`, SIGKILL it after it printed `after_lines` events or after some
    seconds; returns what it printed before dying."""
    env = dict(os.environ, VOICECOACH_DATA_DIR=str(data))
    proc = subprocess.Popen([sys.executable, "-m", "voicecoach.cli", *run_args(walk)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
    printed: list[dict] = []
    try:
        if after_lines is not None:
            for line in proc.stdout:
                printed.append(json.loads(line))
                if len(printed) >= after_lines:
                    break
            proc.send_signal(signal.SIGKILL)
        else:
            time.sleep(after_seconds)        # the process under test runs by itself meanwhile
            proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        printed += [json.loads(l) for l in rest.splitlines() if l.strip().endswith("}")]
    finally:
        proc.kill()
        proc.wait(timeout=30)
    return printed


def position_at(reference: dict, t: float) -> tuple[int, float]:
    """The reference run's (step number, seconds into it) at session time t (no pauses in it)."""
    steps = [e for e in reference["printed"] if e["type"] == "step"]
    current = [e for e in steps if e["step_start"] <= t + 1e-6]
    if not current:
        return 0, 0.0
    e = current[-1]
    return e["step"], t - e["step_start"]


def check_kill(walk, reference, data: Path, after_lines, after_seconds) -> str:
    printed = kill_run(walk, data, after_lines, after_seconds)
    if not (data / journal.FILE_NAME).exists():
        assert not printed, "events were printed but no journal exists"
        return "before the journal"
    sessions, events = stored(data)               # the journal opens, and is intact
    if not sessions:
        assert not printed
        return "before the session"
    (s,) = sessions
    held = timeline_of(events[s.id])
    # Everything up to the kill: all that was printed (nothing lost) ...
    assert held[:len(timeline_of(printed))] == timeline_of(printed)
    # ... and nothing that did not happen: the journal is a prefix of the uninterrupted run.
    assert held == reference["timeline"][:len(held)]
    if s.outcome == "completed":
        done = cli("resume", "--yes", "--input", str(walk["go"]), "--fast", data=data)
        assert done.returncode == 2 and "no unfinished session" in done.stderr
        return "after the end"
    progress = s.progress or {"step_index": -1}
    if progress["step_index"] < 0:
        done = cli("resume", "--yes", "--input", str(walk["go"]), "--fast", data=data)
        assert done.returncode == 2 and "no unfinished session" in done.stderr
        return "before go"
    # The progress kept is where the run really was: at or after its last journaled event,
    # before the next event of the uninterrupted run, on the same step at the same position.
    step, position = progress["step_index"] + 1, progress["position"]
    start = next(e["step_start"] for e in reference["printed"] if e["type"] == "step" and e["step"] == step)
    t_kept = start + position
    last = held[-1][0]
    later = [r[0] for r in reference["timeline"][len(held):]]
    assert last - 1e-3 <= t_kept <= (later[0] if later else 1e9) + 0.05, (last, t_kept, later[:1])
    assert position_at(reference, t_kept) == (step, pytest.approx(position, abs=1e-3))
    # resume continues from that step and position, and finishes the program.
    done = cli("resume", "--yes", "--input", str(walk["go"]), "--fast", "--json", data=data)
    assert done.returncode == 0, done.stderr
    resumed = [json.loads(line) for line in done.stdout.splitlines()]
    assert resumed[0]["state"] == "offering_resume" and resumed[0]["progress"]["step_index"] == step - 1
    first_step = next(e for e in resumed if e["type"] == "step")
    assert first_step["step"] == step
    assert first_step["step_start"] == pytest.approx(-position, abs=1e-3)
    sessions, _ = stored(data)
    again = sessions[0]
    assert again.resumed_from == s.id and again.outcome == "completed"
    assert again.worked == pytest.approx(110, abs=0.05)       # the whole program, across both runs
    return f"step {step}"


def test_sigkill_at_random_points_loses_nothing_and_resume_continues(walk, reference, tmp_path):
    rng = random.Random(20261125)
    total = len(reference["printed"])
    # 16 kills after a random number of printed events, 6 at a random moment of the run
    # (startup included); two at a time, each in its own data dir.
    plan = [(rng.randint(1, total), None) for _ in range(16)]
    plan += [(None, rng.uniform(0.05, reference["seconds"])) for _ in range(6)]
    with ThreadPoolExecutor(2) as pool:
        where = list(pool.map(lambda i: check_kill(walk, reference, tmp_path / f"kill{i}", *plan[i]),
                              range(len(plan))))
    steps = [w for w in where if w.startswith("step")]
    print("killed:", where)
    assert len(where) == 22
    # The kills landed across the program, not all in one place.
    assert len(set(steps)) >= 2 and len(steps) >= 10, where


# --- resuming -----------------------------------------------------------------------------------

@pytest.fixture
def killed_in_step_2(walk, reference, data_dir) -> journal.SessionRecord:
    """A run killed just after step 2 began."""
    n = next(i for i, e in enumerate(reference["printed"], 1) if e["type"] == "step" and e["step"] == 2)
    kill_run(walk, data_dir, n, None)
    sessions, _ = stored(data_dir)
    assert sessions[0].progress["step_index"] == 1 and sessions[0].outcome is None
    return sessions[0]


def test_resume_asks_by_voice_and_go_carries_on(walk, killed_in_step_2, data_dir, capsys):
    # No terminal and no --yes: the question is spoken; the user's "go" answers it.
    assert main(["resume", "--input", str(walk["go"]), "--fast", "--json", "--earbuds"]) == 0
    out = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    offer = next(e for e in out if e["type"] == "response" and e["text"])
    assert offer["text"].startswith("Resume Journal walk at step 2 of 3, Hands free,")
    assert "left?" in offer["text"]
    heard = next(e for e in out if e["type"] == "command")
    assert heard["intent"] == "go" and heard["state"] == "offering_resume"
    assert [e["step"] for e in out if e["type"] == "step"] == [2, 3]


def ask_on_a_terminal(walk, data: Path, answer: str) -> tuple[int, str, str]:
    """`resume` on a terminal (a pseudo-terminal for stdin and stderr): answer its question."""
    import pty
    import select
    main_fd, terminal = pty.openpty()
    env = dict(os.environ, VOICECOACH_DATA_DIR=str(data))
    proc = subprocess.Popen([sys.executable, "-m", "voicecoach.cli", "resume", "--input",
                             str(walk["track"]), "--fast", "--json", "--earbuds"], env=env,
                            stdin=terminal, stderr=terminal, stdout=subprocess.PIPE, text=True)
    os.close(terminal)
    shown = b""
    try:
        deadline = time.monotonic() + 60
        while b"[Y/n]" not in shown and time.monotonic() < deadline:
            if select.select([main_fd], [], [], 1.0)[0]:
                shown += os.read(main_fd, 4096)
        os.write(main_fd, answer.encode() + b"\n")
        out = proc.stdout.read()
        proc.wait(timeout=60)
        while select.select([main_fd], [], [], 0.2)[0]:
            try:
                shown += os.read(main_fd, 4096)
            except OSError:
                break
    finally:
        proc.kill()
        os.close(main_fd)
    return proc.returncode, shown.decode(errors="replace"), out


def test_resume_asks_on_a_terminal(walk, killed_in_step_2, data_dir):
    status, shown, out = ask_on_a_terminal(walk, data_dir, "n")
    assert "Resume Journal walk at step 2 of 3, Hands free," in shown and "left? [Y/n]" in shown
    assert status == 1 and "not resumed" in shown and out == ""
    status, shown, out = ask_on_a_terminal(walk, data_dir, "")       # Enter: yes
    assert status == 0, shown
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["state"] == "offering_resume"
    assert [e["step"] for e in events if e["type"] == "step"] == [2, 3]


def test_resume_declined_by_voice(walk, killed_in_step_2, data_dir, capsys):
    assert main(["resume", "--input", str(walk["stop"]), "--fast", "--json", "--earbuds"]) == 0
    out = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert not [e for e in out if e["type"] == "step"]
    assert "Okay, not carrying on." in " ".join(e["text"] for e in out if e["type"] == "response")
    sessions, _ = stored(data_dir)
    assert sessions[0].outcome == "declined" and sessions[0].resumed_from == killed_in_step_2.id
    # Declined is an answer: resume does not ask again about the same session.
    assert main(["resume", "--yes", "--input", str(walk["go"]), "--fast"]) == 2
    assert "no unfinished session" in capsys.readouterr().err


def test_resume_problems_are_clear(walk, killed_in_step_2, data_dir, capsys):
    assert main(["resume", "99", "--yes", "--input", str(walk["go"]), "--fast"]) == 2
    assert "no session 99 in the journal" in capsys.readouterr().err
    assert main(["resume", "--fast"]) == 2
    assert "--fast needs --input" in capsys.readouterr().err
    walk_copy = Path(killed_in_step_2.script_path)
    saved = walk_copy.read_text()
    walk_copy.rename(walk_copy.with_suffix(".moved"))
    try:
        assert main(["resume", "--yes", "--input", str(walk["go"]), "--fast"]) == 2
        err = capsys.readouterr().err
        assert f"session {killed_in_step_2.id} ran {walk_copy}, which cannot be loaded now" in err
        assert "Traceback" not in err
    finally:
        walk_copy.with_suffix(".moved").rename(walk_copy)
    assert walk_copy.read_text() == saved


# --- reports and the machine diagram ---------------------------------------------------------------

def test_report_draws_a_recorded_session(reference, walk, data_dir, tmp_path, capsys):
    assert main(run_args(walk) + ["-q"]) == 0
    out = tmp_path / "report.png"
    assert main(["report", "last", "-o", str(out)]) == 0
    import matplotlib.image
    image = matplotlib.image.imread(str(out))
    assert image.shape[0] >= 400 and image.shape[1] >= 800
    # Not a blank canvas: the speed line, markers and shading put many colours on it.
    assert len({tuple(p) for p in image.reshape(-1, image.shape[2])[::97].round(2)}) > 20
    from voicecoach.report import timeline
    db = journal.open_for_reading()
    record = journal.find_session(db, "last")
    tl = timeline(record, journal.events(db, record.id))
    db.close()
    assert [v for _, v in tl.speed] == [1.0, 1.2, 1.4, 1.2, 0.8]        # steps, faster, slower
    assert [(n, name) for _, n, name in tl.steps] == [(1, "Find your feet"), (2, "Hands free"),
                                                       (3, "Cool down")]
    assert [i for *_, i in tl.understood] == ["go", "faster", "slower"]
    assert len(tl.cues) == sum(1 for e in reference["printed"] if e["type"] == "cue")
    assert tl.halts[0][2] == "not started" and tl.halts[0][0] == 0


def test_report_json_and_errors(walk, data_dir, capsys):
    assert main(["report", "1"]) == 2
    assert "no journal yet" in capsys.readouterr().err
    assert main(run_args(walk, "go") + ["-q"]) == 0
    capsys.readouterr()
    assert main(["report", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["session"]["id"] == 1 and doc["events"][0]["type"] == "state"
    assert main(["report", "7"]) == 2
    assert "no session 7" in capsys.readouterr().err
    assert main(["report", "1", "-o", "/nonexistent-dir/x/r.png"]) == 2
    assert "cannot write the report" in capsys.readouterr().err


def test_diagram_mermaid_and_image(tmp_path, capsys):
    assert main(["diagram"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("stateDiagram-v2")
    assert "running --> paused: pause" in text and "paused --> running: go" in text
    assert "offering_resume --> running: go, yes" in text
    assert "running --> running: faster, slower, next" in text
    png = tmp_path / "machine.png"
    assert main(["diagram", "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    svg = tmp_path / "machine.svg"
    assert main(["diagram", "-o", str(svg)]) == 0
    assert "confirming_end" in svg.read_text()


# --- a journal that cannot be used never costs a session ---------------------------------------

def test_a_damaged_journal_is_set_aside_and_the_session_runs(walk, data_dir, capsys):
    data_dir.mkdir(parents=True)
    damaged = data_dir / journal.FILE_NAME
    damaged.write_bytes(b"this is not a database, it was overwritten" * 100)
    assert main(run_args(walk, "go") + ["-q"]) == 0
    err = capsys.readouterr().err
    assert "was damaged" in err and "kept as" in err
    aside = list(data_dir.glob(journal.FILE_NAME + ".damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    sessions, events = stored(data_dir)
    assert len(sessions) == 1 and sessions[0].outcome == "completed" and events[sessions[0].id]


def test_history_on_a_journal_that_is_no_database_sets_it_aside(data_dir, capsys):
    data_dir.mkdir(parents=True)
    (data_dir / journal.FILE_NAME).write_bytes(b"\0garbage" * 500)
    assert main(["history"]) == 0
    err = capsys.readouterr().err
    assert "was damaged" in err and "0 sessions" in err and "no sessions yet" in err
    assert "Traceback" not in err
    # Damaged again within the same second: the first copy set aside is not overwritten.
    (data_dir / journal.FILE_NAME).write_bytes(b"\0other" * 500)
    assert main(["history"]) == 0
    kept = sorted(p.read_bytes()[:8] for p in data_dir.glob(journal.FILE_NAME + ".damaged-*"))
    assert kept == [b"\0garbage", b"\0other\0o"]


def test_a_locked_journal_keeps_events_and_writes_them_later(walk, data_dir, capsys):
    (data_dir).mkdir(parents=True)
    path = data_dir / journal.FILE_NAME
    journal.connect(path).close()
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")             # another program holds the journal
    try:
        assert main(run_args(walk, "go") + ["--log", str(data_dir / "log.jsonl")]) == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    out, err = capsys.readouterr()
    assert "cannot write the journal" in err and "kept in" in err
    pending = list((data_dir / journal.PENDING_DIR).glob("*.jsonl"))
    assert len(pending) == 1
    # The next use of the journal writes them in: the whole session, nothing lost.
    assert main(["history", "--json"]) == 0
    (row,) = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert row["completed"] and row["understood"] == 1
    assert not list((data_dir / journal.PENDING_DIR).glob("*.jsonl"))
    _, events = stored(data_dir)
    logged = [json.loads(l) for l in (data_dir / "log.jsonl").read_text().splitlines()]
    assert timeline_of(events[1]) == timeline_of(logged)
    assert len(events[1]) == len(logged)


def test_a_lock_released_mid_session_gets_the_held_events(tmp_path):
    """During a session: writes wait at most 50 ms for a lock, then events are kept in memory
    and retried; once the lock goes, they are written in order."""
    path = tmp_path / journal.FILE_NAME
    journal.connect(path).close()
    now = [0.0]
    warnings: list[str] = []
    record = journal.SessionJournal(path, warn=warnings.append, clock=lambda: now[0])
    record.begin(load_script(SCRIPTS / "backwards-walk.yaml"), mode="live")
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    for i in range(5):
        record.record({"t": float(i), "type": "cue", "state": "running", "text": f"cue {i}"})
        now[0] += 1.0
    assert record.pending == 5 and "kept and written as soon as it can be" in warnings[0]
    holder.execute("ROLLBACK")
    holder.close()
    now[0] += journal.RETRY_EVERY
    record.record({"t": 10.0, "type": "cue", "state": "running", "text": "cue 5"})
    assert record.pending == 0 and warnings[-1].endswith("is written again")
    record.close()
    db = journal.connect(path)
    assert [e["text"] for e in journal.events(db, 1)] == [f"cue {i}" for i in range(6)]
    db.close()


def test_a_journal_from_a_newer_version_is_left_alone(walk, data_dir, capsys):
    data_dir.mkdir(parents=True)
    path = data_dir / journal.FILE_NAME
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA user_version = 99")
    db.close()
    before = path.read_bytes()
    assert main(["history"]) == 2
    assert "written by a newer voicecoach" in capsys.readouterr().err
    assert main(run_args(walk, "go") + ["-q"]) == 0           # the session still runs
    assert "newer voicecoach" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert list((data_dir / journal.PENDING_DIR).glob("*.jsonl"))


# Run as a user whom file modes bind (root's writes ignore them): everything is imported first,
# then the process gives up root, so that nothing has to be read from root's folders after.
AS_A_USER = """
import contextlib, hashlib, io, json, os, sys, urllib.parse
from pathlib import Path
from voicecoach import journal
from voicecoach.script import load_script
script = load_script(Path(sys.argv[2]))
folder = Path(sys.argv[1])
if os.getuid() == 0:
    os.setgid(65534); os.setuid(65534)
path = folder / journal.FILE_NAME
beside = lambda: sorted(p.name for p in folder.iterdir() if p.name.startswith(path.name))

def session():
    said = []
    record = journal.SessionJournal(path, warn=said.append)
    record.begin(script, mode="run")
    record.end("completed")
    record.close()
    return said

def history():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        db = journal.open_for_reading(path)
        count = len(journal.sessions(db))
        db.close()
    return count, err.getvalue()

out = {"first": session()}
path.chmod(0o444)
out["read_only"] = session()
out["beside_read_only"] = beside()
out["history_read_only"] = history()
path.chmod(0o644)
out["history_writable"] = history()
# What SQLite left beside a read-only journal before: a -shm of the journal's old mode.
(folder / (path.name + "-shm")).write_bytes(b"")
(folder / (path.name + "-shm")).chmod(0o444)
out["after_stale_shm"] = session()
out["history_after"] = history()
print(json.dumps(out))
"""


def test_a_read_only_journal_is_named_untouched_and_caught_up_once_writable(tmp_path):
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="voicecoach-ro-", dir="/tmp"))
    try:
        if os.getuid() == 0:
            os.chown(folder, 65534, 65534)
        done = subprocess.run([sys.executable, "-c", AS_A_USER, str(folder),
                               str(SCRIPTS / "backwards-walk.yaml")],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=False)
    assert out["first"] == []
    # Read-only: said once at the start and once at the end, with what to do; the session's
    # events wait in a pending file; SQLite was never let make its files beside the journal.
    start, end = out["read_only"]
    assert "is read-only (make it writable: chmod u+w" in start
    assert "kept in" in end and "journal-pending" in end
    assert out["beside_read_only"] == [journal.FILE_NAME]
    count, said = out["history_read_only"]
    assert count == 1 and "read-only: shown as it is" in said
    # Writable again: the pending session goes in.
    assert out["history_writable"] == [2, ""]
    # A -shm left read-only by an older voicecoach no longer blocks the journal.
    assert out["after_stale_shm"] == []
    assert out["history_after"] == [3, ""]


def test_schema_is_migrated_from_version_1(data_dir, capsys):
    data_dir.mkdir(parents=True)
    path = data_dir / journal.FILE_NAME
    db = sqlite3.connect(str(path), isolation_level=None)
    for statement in filter(str.strip, journal.MIGRATIONS[0].split(";")):
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO sessions (uuid, started, script_path, script_sha256, title, language, "
               "program, mode) VALUES ('u1', 1764000000, '/x.yaml', '', 'Old walk', 'en', "
               "'{\"units\": \"mph\", \"steps\": []}', 'live')")
    db.execute("INSERT INTO events (session_id, seq, t, wall, type, state, intent, text) "
               "VALUES (1, 1, 3.0, 1764000003, 'command', 'ready', 'go', 'go')")
    db.close()
    assert main(["history", "--json"]) == 0
    (row,) = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert row["title"] == "Old walk" and row["understood"] == 1
    db = sqlite3.connect(str(path))
    assert db.execute("PRAGMA user_version").fetchone()[0] == journal.SCHEMA_VERSION
    columns = {r[1] for r in db.execute("PRAGMA table_info(sessions)")}
    assert {"progress", "updated"} <= columns
    db.close()


# --- the journal never grows without bound -------------------------------------------------------

def write_sessions(path: Path, count: int, events_each: int = 20) -> None:
    script = load_script(SCRIPTS / "backwards-walk.yaml")
    for _ in range(count):
        record = journal.SessionJournal(path)
        record.begin(script, mode="fast")
        for i in range(events_each):
            record.record({"t": float(i), "type": "cue", "state": "running", "text": "Stand tall."})
        record.end("completed")
        record.close()


def test_prune_deletes_old_sessions_and_their_events(data_dir, capsys):
    path = data_dir / journal.FILE_NAME
    write_sessions(path, 6)
    db = journal.connect(path)
    db.execute("UPDATE sessions SET started = started - 40 * 86400 WHERE id <= 3")
    db.close()
    assert main(["prune", "--older-than", "30"]) == 0
    assert "pruned 3 sessions; 3 left" in capsys.readouterr().out
    assert main(["prune", "--keep", "1"]) == 0
    assert "pruned 2 sessions; 1 left" in capsys.readouterr().out
    db = journal.connect(path)
    assert db.execute("SELECT session_id, count(*) FROM events GROUP BY session_id").fetchall() == [(6, 20)]
    db.close()
    assert main(["prune"]) == 2
    assert "--keep N" in capsys.readouterr().err


def test_the_journal_keeps_a_bounded_number_of_sessions(tmp_path, monkeypatch):
    monkeypatch.setattr(journal, "KEEP_SESSIONS", 3)
    path = tmp_path / journal.FILE_NAME
    write_sessions(path, 5, events_each=3)
    db = journal.connect(path)
    assert [s.id for s in journal.sessions(db)] == [5, 4, 3]
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 9
    db.close()


def damage_middle(path: Path, kind: str) -> None:
    """What a disk error or a stray write leaves: 4 KB of random bytes or 8 KB of zeros in the
    middle of the file, page-aligned, the header intact."""
    size = path.stat().st_size
    offset = (size // 2) // 4096 * 4096
    data = random.Random(7).randbytes(4096) if kind == "random" else bytes(8192)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.mark.parametrize("kind", ["random", "zeros"])
def test_damage_inside_the_journal_is_found_set_aside_and_salvaged(data_dir, capsys, kind):
    path = data_dir / journal.FILE_NAME
    write_sessions(path, 30, events_each=120)
    assert not Path(str(path) + "-wal").exists()      # all of it in the main file
    damage_middle(path, kind)
    assert main(["history", "--json", "--limit", "0"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "was damaged" in err and "kept as" in err
    listed = [json.loads(line) for line in out.splitlines()]
    # A damaged page loses its rows, not the journal: most sessions are still there.
    assert 20 <= len(listed) <= 30 and all(s["completed"] for s in listed)
    aside = list(data_dir.glob(journal.FILE_NAME + ".damaged-*"))
    assert len(aside) == 1 and aside[0].stat().st_size > 100_000     # kept, never deleted
    sessions, events = stored(data_dir)            # the new journal is whole
    assert len(sessions) == len(listed) and sum(map(len, events.values())) > 20 * 120
    assert main(["history"]) == 0 and "was damaged" not in capsys.readouterr().err


def test_resume_on_a_damaged_journal_is_never_a_traceback(data_dir, capsys):
    path = data_dir / journal.FILE_NAME
    write_sessions(path, 30, events_each=120)
    damage_middle(path, "zeros")
    assert main(["resume", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "was damaged" in err and "no unfinished session" in err and "Traceback" not in err


def test_a_session_on_a_journal_damaged_inside_keeps_the_old_sessions(walk, data_dir, capsys):
    path = data_dir / journal.FILE_NAME
    write_sessions(path, 30, events_each=120)
    damage_middle(path, "random")
    assert main(run_args(walk, "go") + ["-q"]) == 0
    assert "was damaged" in capsys.readouterr().err
    sessions, _ = stored(data_dir)
    assert sessions[0].outcome == "completed" and sessions[0].title == "Journal walk"
    assert len(sessions) > 20


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB file system of its own (tmpfs), to be filled up: needs the right to mount."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                                 capture_output=True).returncode == 0
    except OSError:             # no mount command at all
        mounted = False
    if not mounted:
        pytest.skip("cannot mount a small file system here (needs root)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, bytes(65536))
    except OSError:
        pass
    try:
        while True:
            os.write(fd, bytes(512))
    except OSError:
        pass
    os.close(fd)
    return filler


def test_a_session_on_a_full_disk_keeps_its_events_and_its_outcome(small_disk, capsys):
    path = small_disk / "data" / journal.FILE_NAME
    write_sessions(path, 1)                    # the journal in use, and space held beside it
    assert (path.parent / journal.RESERVE_NAME).stat().st_size == journal.RESERVE_BYTES
    filler = fill(small_disk)
    record = journal.SessionJournal(path)
    record.begin(load_script(SCRIPTS / "backwards-walk.yaml"), mode="fast")
    for i in range(300):
        record.record({"t": float(i), "type": "cue", "state": "running", "text": "Stand tall. " * 20})
    record.end("completed")
    record.close()
    err = capsys.readouterr().err
    assert "the space held for the end of a session is used" in err
    db = journal.open_for_reading(path)
    try:
        newest = journal.sessions(db)[0]
        assert newest.id == 2 and newest.outcome == "completed" and not newest.resumable
        assert len(list(journal.events(db, newest.id))) == 300
        assert journal.resumable(db) is None     # nothing for `resume` to pick up by mistake
    finally:
        db.close()
    # Once there is room again, the next session holds the space again.
    filler.unlink()
    journal.SessionJournal(path).close()
    assert (path.parent / journal.RESERVE_NAME).stat().st_size == journal.RESERVE_BYTES


def test_the_wal_is_cut_back_when_a_session_ends(walk, data_dir, capsys):
    # Issue 13: the WAL grew about 1 MB per 9-minute session while something else had the
    # journal open (SQLite cuts it back only when the last connection closes). Each session's
    # end checkpoints it into the journal and truncates it.
    run = ["run", str(walk["script"]), "--input", str(walk["track"]), "--fast", "--earbuds", "-q"]
    assert main(run) == 0
    reader = sqlite3.connect(data_dir / "journal.sqlite3")      # `history` in another terminal
    try:
        reader.execute("SELECT count(*) FROM sessions").fetchone()
        assert main(run) == 0
        wal = data_dir / "journal.sqlite3-wal"
        assert wal.stat().st_size == 0
        assert reader.execute("SELECT count(*) FROM sessions").fetchone()[0] == 2
    finally:
        reader.close()
