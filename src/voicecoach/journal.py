"""The session journal: every event of every session, in SQLite, as it happens.

One database in the user's data dir (`journal.sqlite3`), in write-ahead-log mode: each event is
its own transaction, committed before anything else sees the event (before it is printed), so a
session killed at any moment loses at most the event in flight. Each commit also carries the
session's progress (step, position, speed), which is what `voicecoach resume` continues from.

The journal never stops a workout. A database that is locked (another program holds it) or
fails to write keeps the events in memory and writes them when it can; what is still unwritten
when the run ends goes to a pending file beside the database and is imported the next time the
journal opens. A damaged database (checked page by page when it opens) is moved aside (kept,
never deleted) and a new one begun with every row that can still be read from it.
A database written by a newer voicecoach is left alone, and the session's events go to a
pending file.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import UserError

FILE_NAME = "journal.sqlite3"
PENDING_DIR = "journal-pending"
RETRY_EVERY = 5.0          # seconds between attempts to write to a journal that failed
BUSY_WAIT_LIVE = 0.05      # how long a write may wait for a lock during a session (never stall it)
BUSY_WAIT_CLOSE = 2.0      # ...and at the end of a run, before the events go to a pending file
KEEP_SESSIONS = 1000       # the journal keeps this many sessions at most (oldest pruned first)
# Space held beside the journal for the end of a session on a full disk: released when a write
# fails, it lets the outcome and the events still in memory be written (a session's end, and
# the WAL pages it touches, take a few kB; its events about 1 MB per 9 minutes at most).
RESERVE_NAME = "journal-reserve"
RESERVE_BYTES = 2 * 1024 * 1024

# Schema versions, each the SQL that takes the database from the one before. user_version
# records which the database is at; opening migrates it forward in one transaction.
MIGRATIONS: tuple[str, ...] = (
    # 1: sessions and their events
    """
    CREATE TABLE sessions (
        id           INTEGER PRIMARY KEY,
        uuid         TEXT NOT NULL UNIQUE,
        started      REAL NOT NULL,              -- wall clock, seconds since the epoch
        ended        REAL,
        script_path  TEXT NOT NULL,
        script_sha256 TEXT NOT NULL,
        title        TEXT NOT NULL,
        language     TEXT NOT NULL,
        program      TEXT NOT NULL,              -- JSON: units, duration, steps
        mode         TEXT NOT NULL,              -- live | fast (virtual time)
        resumed_from INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
        outcome      TEXT                        -- NULL while running or after a crash
    );
    CREATE TABLE events (
        id         INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        t          REAL NOT NULL,                -- session clock, seconds from its start
        wall       REAL NOT NULL,
        type       TEXT NOT NULL,
        state      TEXT,
        step       INTEGER,
        intent     TEXT,
        text       TEXT,
        data       TEXT NOT NULL DEFAULT '{}',   -- JSON: everything else about the event
        UNIQUE (session_id, seq)
    );
    """,
    # 2: progress kept on the session row, so that resuming needs no replay of events
    """
    ALTER TABLE sessions ADD COLUMN progress TEXT;      -- JSON: session.Progress
    ALTER TABLE sessions ADD COLUMN updated REAL;
    CREATE INDEX sessions_started ON sessions(started);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class JournalError(UserError):
    pass


def journal_path() -> Path:
    from .models import data_dir
    return data_dir() / FILE_NAME


@dataclass(frozen=True)
class SessionRecord:
    """A session as the journal holds it."""
    id: int
    uuid: str
    started: float
    ended: float | None
    script_path: str
    script_sha256: str
    title: str
    language: str
    program: dict[str, Any]
    mode: str
    resumed_from: int | None
    outcome: str | None
    progress: dict[str, Any] | None
    updated: float | None
    understood: int = 0
    not_understood: int = 0
    events: int = 0
    length: float = 0.0          # session clock at its last event: pauses included

    @property
    def worked(self) -> float:
        return float((self.progress or {}).get("worked", 0.0))

    @property
    def resumable(self) -> bool:
        """Unfinished (crashed, killed, input ran out, Ctrl-C) and begun."""
        p = self.progress or {}
        return self.outcome in (None, "interrupted") and p.get("step_index", -1) >= 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --- opening --------------------------------------------------------------------------------

def connect(path: Path, busy_wait: float = BUSY_WAIT_CLOSE) -> sqlite3.Connection:
    """Open (creating and migrating) the journal at `path`. Raises sqlite3 errors as they come:
    the callers decide whether that stops them (history) or not (a session)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _check_writable(path)
    db = sqlite3.connect(str(path), timeout=busy_wait, isolation_level=None)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:       # checked first: such a file is not touched at all
            raise NewerJournal(f"{path} was written by a newer voicecoach (schema {version}, "
                               f"this one knows up to {SCHEMA_VERSION})")
        if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise sqlite3.OperationalError("cannot switch to write-ahead logging")
        # FULL: each commit is on disk when it returns, so a dead battery loses no more than a
        # killed process does. (Measured cost: voicecoach bench journal.)
        db.execute("PRAGMA synchronous = FULL")
        if version < SCHEMA_VERSION:
            _migrate(db, version)
        _check_pages(db)
    except BaseException:
        db.close()
        raise
    return db


def _check_pages(db: sqlite3.Connection) -> None:
    """Damage inside the file (a disk error, a stray write) shows only when a page is read:
    look at every page when it opens rather than fail in the middle of history or resume."""
    problem = db.execute("PRAGMA quick_check(1)").fetchone()[0]
    if problem != "ok":
        raise sqlite3.DatabaseError("database disk image is malformed: " + " ".join(problem.split()))


class NewerJournal(sqlite3.DatabaseError):
    pass


class ReadOnlyJournal(sqlite3.OperationalError):
    pass


COMPANIONS = ("-wal", "-shm")      # SQLite's files beside the journal in WAL mode


def _check_writable(path: Path) -> None:
    """Refuse a journal we may not write before SQLite touches it: opened in WAL mode, SQLite
    would make its -wal and -shm files with the journal's own read-only mode, and they would
    keep the journal unusable after it was made writable again. Companions left read-only that
    way are given the journal's mode back."""
    if not path.exists():
        return
    if not os.access(path, os.W_OK):
        raise ReadOnlyJournal(f"the journal {path} is read-only (make it writable: "
                              f"chmod u+w '{path}')")
    for suffix in COMPANIONS:
        companion = Path(str(path) + suffix)
        if companion.exists() and not os.access(companion, os.W_OK):
            try:
                companion.chmod(path.stat().st_mode & 0o666)
            except OSError:
                raise ReadOnlyJournal(f"{companion}, beside the journal, is read-only and not "
                                      "yours to change (remove it once no voicecoach is "
                                      "running)") from None


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A journal we may only read, read without writing anything beside it. A WAL with
    content (a session that ended without closing) needs SQLite's shared memory, which it may
    create; an empty one or none means the file is all there is ("immutable")."""
    wal = Path(str(path) + "-wal")
    mode = "ro" if wal.exists() and wal.stat().st_size > 0 else "ro&immutable=1"
    uri = "file:" + urllib.parse.quote(str(path)) + "?mode=" + mode
    db = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise ReadOnlyJournal(f"the journal {path} is read-only and was written by "
                                  f"{'a newer' if version > SCHEMA_VERSION else 'an older'} "
                                  f"voicecoach (make it writable: chmod u+w '{path}')")
        _check_pages(db)
    except BaseException:
        db.close()
        raise
    return db


def _migrate(db: sqlite3.Connection, version: int) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated while we waited for the lock.
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, sql.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def is_damaged(error: sqlite3.Error) -> bool:
    text = str(error).lower()
    return isinstance(error, sqlite3.DatabaseError) and not isinstance(error, NewerJournal) and (
        "not a database" in text or "malformed" in text or "corrupt" in text)


@dataclass(frozen=True)
class Repair:
    """A damaged journal moved aside, and what was salvaged from it into a new one."""
    aside: Path
    sessions: int
    events: int

    def message(self, path: Path, error: Exception) -> str:
        return (f"the journal {path} was damaged ({error}); it is kept as {self.aside}, and "
                f"{self.sessions} sessions with {self.events} events were read from it into a "
                "new journal")


def repair(path: Path, busy_wait: float = BUSY_WAIT_CLOSE) -> tuple[sqlite3.Connection, Repair]:
    """Move a damaged journal aside, begin a new one, and copy into it every row of the old one
    that can still be read (row by row: a damaged page loses its rows, not the rest)."""
    aside = set_aside(path)
    db = connect(path, busy_wait)
    counts = {"sessions": 0, "events": 0}
    try:
        # Read-write, though only read: the copy's own WAL is then folded back in and removed
        # when it closes (read-only, SQLite would leave -wal and -shm files beside it).
        old = sqlite3.connect(str(aside), isolation_level=None)
    except sqlite3.Error:
        return db, Repair(aside, 0, 0)
    try:
        for table in ("sessions", "events"):     # sessions first: events refer to them
            try:
                columns = [r[1] for r in old.execute(f"PRAGMA table_info({table})")]
                last = old.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
            except sqlite3.Error:
                continue
            known = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
            keep = [c for c in columns if c in known]
            select = f"SELECT {', '.join(keep)} FROM {table} WHERE rowid = ?"
            insert = f"INSERT OR IGNORE INTO {table} ({', '.join(keep)}) VALUES ({', '.join('?' * len(keep))})"
            db.execute("PRAGMA foreign_keys = OFF")    # a lost session's events: dropped below
            db.execute("BEGIN")
            for rowid in range(1, last + 1):
                try:
                    row = old.execute(select, (rowid,)).fetchone()
                    if row is not None:
                        counts[table] += db.execute(insert, row).rowcount
                except sqlite3.Error:
                    continue        # this row's page is gone (or it refers to a lost session)
            db.execute("COMMIT")
        # Events of sessions that were lost go; a link to a lost earlier session is cleared.
        counts["events"] -= db.execute(
            "DELETE FROM events WHERE session_id NOT IN (SELECT id FROM sessions)").rowcount
        db.execute("UPDATE sessions SET resumed_from = NULL "
                   "WHERE resumed_from NOT IN (SELECT id FROM sessions)")
    finally:
        db.execute("PRAGMA foreign_keys = ON")
        old.close()
    return db, Repair(aside, counts["sessions"], counts["events"])


def set_aside(path: Path) -> Path:
    """Move a damaged journal (and its WAL) out of the way, keeping it for whoever wants it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while aside.exists():            # never over an earlier one set aside in the same second
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for suffix in ("",) + COMPANIONS:
        p = Path(str(path) + suffix)
        if p.exists():
            p.rename(Path(str(aside) + suffix))
    return aside


def open_for_reading(path: Path | None = None) -> sqlite3.Connection:
    """The journal for history, report, prune: a JournalError that says what is wrong if it
    cannot be used."""
    path = path or journal_path()
    if not path.exists():
        raise JournalError(f"no journal yet at {path}: it is made by the first `voicecoach run`")
    try:
        try:
            if path.exists() and not os.access(path, os.W_OK):
                db = _connect_read_only(path)
                print(f"voicecoach: the journal {path} is read-only: shown as it is, sessions "
                      "that could not be written to it are not in it yet", file=sys.stderr)
                return db
            db = connect(path)
        except ReadOnlyJournal:
            raise
        except sqlite3.DatabaseError as e:
            if not is_damaged(e):
                raise
            db, repaired = repair(path)
            print(f"voicecoach: {repaired.message(path, e)}", file=sys.stderr)
        _import_pending(db, path)
        return db
    except OSError as e:
        raise JournalError(f"cannot set the damaged journal {path} aside: {e}") from None
    except ReadOnlyJournal as e:
        raise JournalError(str(e)) from None
    except sqlite3.Error as e:
        if is_damaged(e):
            raise JournalError(f"the journal {path} is damaged ({e}), and could not be "
                               "repaired") from None
        if _locked(e):
            raise JournalError(f"the journal {path} is locked by another program; try again "
                               "when it has finished") from None
        raise JournalError(f"cannot open the journal {path}: {e}") from None


# --- writing during a session -----------------------------------------------------------------

class SessionJournal:
    """Writes one session's events as they happen; never raises into the session."""

    def __init__(self, path: Path | None = None, *,
                 warn: Callable[[str], None] = lambda m: print(f"voicecoach: {m}", file=sys.stderr),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path or journal_path()
        self.warn = warn
        self._clock = clock
        self.uuid = uuid.uuid4().hex
        self.session_id: int | None = None
        self.db: sqlite3.Connection | None = None
        self._pending: list[tuple[str, dict]] = []     # (kind, data), written in order
        self._seq = 0
        self._retry_at = 0.0
        self._failing: str | None = None
        self._reserve = self.path.parent / RESERVE_NAME
        self._open()
        hold_reserve(self._reserve)

    def _open(self) -> None:
        try:
            self.db = connect(self.path, BUSY_WAIT_LIVE)
            _import_pending(self.db, self.path)
        except sqlite3.Error as e:
            self.db = None
            if is_damaged(e):
                try:
                    self.db, repaired = repair(self.path, BUSY_WAIT_LIVE)
                    self.warn(repaired.message(self.path, e))
                    return
                except (OSError, sqlite3.Error) as again:
                    e = again
            self._failed(e)
        except OSError as e:
            self._failed(e)

    def _failed(self, error: Exception) -> None:
        self._retry_at = self._clock() + RETRY_EVERY
        if self._failing is None:
            self.warn(f"{self._problem(error)}; this session's events are kept and written "
                      "as soon as it can be")
        self._failing = str(error)

    # The session's calls -----------------------------------------------------------------------
    def begin(self, script, *, mode: str, resumed_from: int | None = None) -> None:
        import hashlib
        program = script.program()
        text = script.path.read_bytes() if script.path and script.path.is_file() else b""
        self._write("session", {
            "uuid": self.uuid, "started": time.time(),
            "script_path": str(script.path.resolve()) if script.path else "",
            "script_sha256": hashlib.sha256(text).hexdigest(),
            "title": script.title, "language": script.language, "mode": mode,
            "resumed_from": resumed_from,
            "program": {"units": script.units, "duration": program.duration,
                        "steps": [{"number": s.number, "name": s.name, "duration": s.duration,
                                   "speed": s.speed} for s in program.steps]}})

    def record(self, event: dict[str, Any], progress: dict[str, Any] | None = None) -> None:
        """One event (a timeline event or what the listener heard), with the session's progress."""
        self._seq += 1
        self._write("event", {"seq": self._seq, "event": event, "progress": progress})

    def checkpoint(self, progress: dict[str, Any]) -> None:
        """The session's progress between events (while a step runs quietly)."""
        if self._pending and self._pending[-1][0] == "progress":
            self._pending.pop()             # only the newest position matters
        self._write("progress", {"progress": progress})

    def end(self, outcome: str | None, progress: dict[str, Any] | None = None) -> None:
        self._write("end", {"outcome": outcome, "progress": progress, "ended": time.time()})

    def close(self) -> None:
        """Write what is left, waiting a little for a lock; else keep it in a pending file."""
        self._write_before_closing()
        if self._pending and self._use_reserve(self._failing):
            self._write_before_closing()
        if self._pending:
            spill = self.path.parent / PENDING_DIR / f"{self.uuid}.jsonl"
            try:
                spill.parent.mkdir(parents=True, exist_ok=True)
                with open(spill, "a", encoding="utf-8") as f:
                    for kind, data in self._pending:
                        f.write(json.dumps({"kind": kind, "session": self.uuid, "data": data}) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                self.warn(f"{self._problem(self._failing)}; this session's "
                          f"{len(self._pending)} events are kept in {spill} and go into the "
                          "journal the next time it opens")
                self._pending.clear()
            except OSError as e:
                self.warn(f"the journal could not be written ({self._failing}), nor {spill} ({e})")
        if self.db is not None:
            # The session's writes (about 1 MB of WAL for 9 minutes) go into the journal and
            # the WAL is cut back, so that it does not grow from session to session. Best
            # effort: a reader holding it open (history in another terminal) only delays it.
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.close()
            self.db = None

    def _write_before_closing(self) -> None:
        if self._pending and self.db is None:
            try:
                self.db = connect(self.path, BUSY_WAIT_CLOSE)
            except (sqlite3.Error, OSError) as e:
                self.db = None
                self._failing = str(e)
        if self._pending and self.db is not None:
            self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_WAIT_CLOSE * 1000)}")
            self._retry_at = 0.0
            self._flush(released=True)      # (close() itself decides on the reserve)

    @property
    def pending(self) -> int:
        return len(self._pending)

    # Writing -----------------------------------------------------------------------------------
    def _problem(self, error) -> str:
        # A read-only journal's message already says which file and what to do.
        return str(error) if _read_only(error) else f"cannot write the journal {self.path} ({error})"

    def _use_reserve(self, error) -> bool:
        """After a write failed that no lock explains (likely a full disk): free the space held
        for the end of a session, so that this one's can be written. False if there is none."""
        if error is None or _locked(error) or _read_only(error) or not _release(self._reserve):
            return False
        self.warn(f"the journal {self.path} could not be written ({error}); the space held for "
                  "the end of a session is used")
        return True

    def _write(self, kind: str, data: dict) -> None:
        self._pending.append((kind, data))
        if self._clock() >= self._retry_at:
            self._flush()

    def _flush(self, released: bool = False) -> None:
        if self.db is None:
            self._open()
            if self.db is None:
                if not released and self._use_reserve(self._failing):
                    self._flush(released=True)
                return
        try:
            self.db.execute("BEGIN IMMEDIATE")
            for kind, data in self._pending:
                self.session_id = _apply(self.db, kind, data, self.session_id, self.uuid)
            self.db.execute("COMMIT")
        except (sqlite3.Error, OSError) as e:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(e, sqlite3.Error) and is_damaged(e):
                self.db.close()
                self.db = None          # reopened (and set aside) on the next attempt
            elif not released and self._use_reserve(e):
                self._flush(released=True)
                return
            self._failed(e)
            return
        self._pending.clear()
        if self._failing is not None:
            self.warn(f"the journal {self.path} is written again")
            self._failing = None


def hold_reserve(path: Path) -> None:
    """Set RESERVE_BYTES aside at `path` if they are not already (not at all on a full disk)."""
    try:
        if path.exists() and path.stat().st_size >= RESERVE_BYTES:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(bytes(RESERVE_BYTES))     # written, not sparse: the blocks are really held
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        _release(path)


def _release(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except OSError:
        return False


def _read_only(error) -> bool:
    """A journal (or a file beside it) we may not write: no space freed helps."""
    text = str(error)
    return isinstance(error, ReadOnlyJournal) or "readonly" in text or "is read-only" in text


def _locked(error: Exception) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def _apply(db: sqlite3.Connection, kind: str, data: dict, session_id: int | None,
           session_uuid: str) -> int | None:
    """One pending write, inside the caller's transaction. Returns the session's row id."""
    if kind == "session":
        if session_id is None:
            row = db.execute("SELECT id FROM sessions WHERE uuid = ?", (data["uuid"],)).fetchone()
            if row:
                return row[0]
        cur = db.execute(
            "INSERT INTO sessions (uuid, started, script_path, script_sha256, title, language, "
            "program, mode, resumed_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (data["uuid"], data["started"], data["script_path"], data["script_sha256"],
             data["title"], data["language"], json.dumps(data["program"]), data["mode"],
             _existing(db, data.get("resumed_from"))))
        _keep_newest(db, KEEP_SESSIONS)
        return cur.lastrowid
    if session_id is None:
        row = db.execute("SELECT id FROM sessions WHERE uuid = ?", (session_uuid,)).fetchone()
        if row is None:
            return None                  # the session row itself never made it: nothing to attach to
        session_id = row[0]
    now = time.time()
    if kind == "event":
        e = dict(data["event"])
        fixed = {k: e.pop(k, None) for k in ("t", "wall", "type", "state", "step", "intent", "text")}
        db.execute("INSERT OR IGNORE INTO events (session_id, seq, t, wall, type, state, step, "
                   "intent, text, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (session_id, data["seq"], fixed["t"] or 0.0, fixed["wall"] or now,
                    fixed["type"] or "event", fixed["state"], fixed["step"], fixed["intent"],
                    fixed["text"], json.dumps(e, ensure_ascii=False)))
        outcome = e.get("outcome") if fixed["type"] == "state" else None
        if outcome:
            db.execute("UPDATE sessions SET outcome = ?, ended = ? WHERE id = ?",
                       (outcome, fixed["wall"] or now, session_id))
    if kind == "end":
        db.execute("UPDATE sessions SET outcome = coalesce(outcome, ?), ended = coalesce(ended, ?) "
                   "WHERE id = ?", (data["outcome"], data["ended"], session_id))
    if data.get("progress") is not None:
        db.execute("UPDATE sessions SET progress = ?, updated = ? WHERE id = ?",
                   (json.dumps(data["progress"]), now, session_id))
    return session_id


def _existing(db: sqlite3.Connection, session_id: int | None) -> int | None:
    if session_id is None:
        return None
    return session_id if db.execute("SELECT 1 FROM sessions WHERE id = ?",
                                    (session_id,)).fetchone() else None


def _keep_newest(db: sqlite3.Connection, keep: int) -> None:
    db.execute("DELETE FROM sessions WHERE id NOT IN "
               "(SELECT id FROM sessions ORDER BY started DESC, id DESC LIMIT ?)", (keep,))


def _import_pending(db: sqlite3.Connection, path: Path) -> int:
    """Write the events that earlier runs could not (locked or failing journal)."""
    folder = path.parent / PENDING_DIR
    if not folder.is_dir():
        return 0
    imported = 0
    for spill in sorted(folder.glob("*.jsonl")):
        try:
            lines = [json.loads(line) for line in spill.read_text("utf-8").splitlines() if line.strip()]
        except (OSError, ValueError):
            continue                    # left where it is, for a person to look at
        db.execute("BEGIN IMMEDIATE")
        try:
            session_id = None
            for item in lines:
                session_id = _apply(db, item["kind"], item["data"], session_id, item["session"])
            db.execute("COMMIT")
        except (KeyError, TypeError):
            db.execute("ROLLBACK")
            continue                    # not one of ours: left where it is
        except BaseException:
            db.execute("ROLLBACK")
            raise
        spill.unlink()
        imported += 1
    return imported


# --- reading ----------------------------------------------------------------------------------

_SESSION_COLUMNS = ("id, uuid, started, ended, script_path, script_sha256, title, language, "
                    "program, mode, resumed_from, outcome, progress, updated")


def _session_from_row(row, counts=(0, 0, 0, 0.0)) -> SessionRecord:
    values = list(row)
    values[8] = json.loads(values[8])
    values[12] = json.loads(values[12]) if values[12] else None
    return SessionRecord(*values, understood=counts[0], not_understood=counts[1], events=counts[2],
                         length=counts[3])


def _counts(db: sqlite3.Connection, session_id: int) -> tuple[int, int, int, float]:
    # Commands the program gave itself ("(Ctrl-C)", "(--yes)", "(microphone lost)") don't count.
    row = db.execute("SELECT sum(type = 'command' AND intent IS NOT NULL AND text NOT LIKE '(%'), "
                     "sum(type = 'command' AND intent IS NULL), count(*), max(t) "
                     "FROM events WHERE session_id = ?", (session_id,)).fetchone()
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), float(row[3] or 0.0)


def sessions(db: sqlite3.Connection, limit: int | None = None) -> list[SessionRecord]:
    """Newest first."""
    rows = db.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions ORDER BY started DESC, id DESC"
                      + (" LIMIT ?" if limit else ""), (limit,) if limit else ()).fetchall()
    return [_session_from_row(r, _counts(db, r[0])) for r in rows]


def session(db: sqlite3.Connection, session_id: int) -> SessionRecord:
    row = db.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if row is None:
        raise JournalError(f"no session {session_id} in the journal (see voicecoach history)")
    return _session_from_row(row, _counts(db, session_id))


def find_session(db: sqlite3.Connection, spec: str | None) -> SessionRecord:
    """A session by number, or 'last' (the default)."""
    if spec in (None, "", "last"):
        found = sessions(db, limit=1)
        if not found:
            raise JournalError("the journal holds no sessions yet")
        return found[0]
    if not str(spec).lstrip("#").isdigit():
        raise JournalError(f"{spec!r} is not a session number (see voicecoach history)")
    return session(db, int(str(spec).lstrip("#")))


def events(db: sqlite3.Connection, session_id: int) -> Iterator[dict[str, Any]]:
    for seq, t, wall, type_, state, step, intent, text, data in db.execute(
            "SELECT seq, t, wall, type, state, step, intent, text, data FROM events "
            "WHERE session_id = ? ORDER BY seq", (session_id,)):
        yield {"seq": seq, "t": t, "wall": wall, "type": type_, "state": state, "step": step,
               "intent": intent, "text": text, **json.loads(data)}


def resumable(db: sqlite3.Connection) -> SessionRecord | None:
    """The most recent session that stopped before its end and was not continued since."""
    for s in sessions(db, limit=50):
        if s.resumable and not db.execute("SELECT 1 FROM sessions WHERE resumed_from = ?",
                                          (s.id,)).fetchone():
            return s
        if s.outcome in ("completed", "ended_early", "ended_before_start"):
            return None           # a later session ended properly: an older crash is history
    return None


def prune(db: sqlite3.Connection, *, keep: int | None = None,
          older_than_days: float | None = None) -> int:
    """Delete old sessions (and their events); returns how many went. Space is given back."""
    before = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
    db.execute("BEGIN IMMEDIATE")
    try:
        if older_than_days is not None:
            db.execute("DELETE FROM sessions WHERE started < ?",
                       (time.time() - older_than_days * 86400,))
        if keep is not None:
            _keep_newest(db, keep)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    gone = before - db.execute("SELECT count(*) FROM sessions").fetchone()[0]
    if gone:
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return gone
