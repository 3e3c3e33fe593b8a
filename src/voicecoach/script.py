"""Trainer cue scripts: the YAML format, its validation, and the program it describes.

`load_script(path)` returns a validated `CueScript` or raises `ScriptError` listing every problem
as file:line:col: message. The format is documented for trainers in docs/cue-scripts.md.
"""
from __future__ import annotations

import difflib
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag,
                      ValidationError)

from .scriptfile import Document, Problem, ProblemsError, read_yaml
from .phrases import available_languages as phrase_languages
from .vocabulary import SESSION_INTENTS, Vocabulary, VocabularyError
from .vocabulary import available_languages as vocabulary_languages

# Limits that keep a mistyped value from becoming a 3-day session or a 90 mph treadmill.
MAX_STEP_SECONDS = 4 * 3600
MAX_TOTAL_SECONDS = 12 * 3600
MIN_EVERY_SECONDS = 5
MAX_SPEED = {"mph": 15.0, "km/h": 25.0}
MIN_INCREMENT = 0.1      # treadmills step in tenths; a finer one would make endless speeds
MAX_STEPS = 500
MAX_CUES_PER_STEP = 200
MAX_TEXT = 500
MAX_REPEAT = 50
# What a whole session may come to, repeats expanded: beyond these, rendering and simulating
# stop being cheap (issue 13: 20 x repeat 50 took 207 s and 7.9 GB before a word was spoken).
MAX_PLANNED_STEPS = 1000
MAX_CUE_TIMES = 10_000     # moments a cue is due, in the whole session
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}
YIELD_SECONDS = 10.0      # a repeating cue skips a turn this close to a one-off cue


class ScriptError(ProblemsError):
    """A cue script that cannot be run; `.problems` lists each problem with its location."""


# --- durations --------------------------------------------------------------------------------

_UNITS = re.compile(r"^(?:(?P<h>\d+(?:\.\d+)?)\s*h)?\s*(?:(?P<m>\d+(?:\.\d+)?)\s*m(?:in)?)?\s*"
                    r"(?:(?P<s>\d+(?:\.\d+)?)\s*s(?:ec)?)?$")
_CLOCK = re.compile(r"^(?:(?P<h>\d+):)?(?P<m>\d+):(?P<s>[0-5]?\d(?:\.\d+)?)$")


def parse_duration(value: Any, signed: bool = False) -> float:
    """'90s', '2m', '1m30s', '1h', '1:30' -> seconds. A leading '-' only where `signed`."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a duration such as 90s, 2m or 1m30s, not {value!r}")
    if isinstance(value, (int, float)):
        raise ValueError(f"duration {value} has no unit: write {value}s (seconds) "
                         f"or {value}m (minutes)")
    text = str(value).strip().lower()
    negative = text.startswith("-")
    if negative:
        if not signed:
            raise ValueError(f"duration {value!r} cannot be negative here")
        text = text[1:].strip()
    m = _CLOCK.match(text) or _UNITS.match(text)
    if not text or not m or not any(m.groupdict().values()):
        raise ValueError(f"{value!r} is not a duration: write e.g. 90s, 2m, 1m30s or 1:30")
    g = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
    seconds = g["h"] * 3600 + g["m"] * 60 + g["s"]
    if not math.isfinite(seconds) or seconds > MAX_TOTAL_SECONDS:
        raise ValueError(f"duration {value!r} is longer than {MAX_TOTAL_SECONDS // 3600} hours")
    return -seconds if negative else seconds


def format_duration(seconds: float) -> str:
    """Seconds -> the script's own notation ('1m30s')."""
    seconds = round(abs(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s or not (h or m) else ""]
    return "".join(parts)


Duration = Annotated[float, BeforeValidator(parse_duration)]
SignedDuration = Annotated[float, BeforeValidator(lambda v: parse_duration(v, signed=True))]


def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


def _visible_text(v: Any) -> Any:
    """Text to be spoken and printed: no control characters (a terminal escape such as
    "\x1b[2J" would clear the trainer's screen), and something left to say once invisible
    characters (zero-width spaces, joiners) are taken out."""
    if not isinstance(v, str):
        return v
    bad = next((c for c in v if unicodedata.category(c) == "Cc" and c not in "\n\t"), None)
    if bad is not None:
        raise ValueError(f"contains the control character {bad!r}; cues and titles are plain text")
    visible = "".join(c for c in v if unicodedata.category(c) != "Cf")
    if v and not visible.strip():
        raise ValueError("has no visible text (only invisible characters)")
    return visible


Text = Annotated[str, BeforeValidator(_visible_text), Field(min_length=1, max_length=MAX_TEXT)]
Phrases = Annotated[list[Text], BeforeValidator(_as_list), Field(min_length=1, max_length=100)]


# --- the schema -------------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Voice(_Strict):
    name: str | None = None                                  # a voice id or name; None: default
    rate: Annotated[int, Field(ge=80, le=450, strict=True)] | None = None  # words per minute
    volume: Annotated[float, Field(ge=0.0, le=1.0, strict=True)] | None = None


class Progression(_Strict):
    increment: Annotated[float, Field(gt=0, le=5, strict=True)] = 0.2     # how much faster/slower change
    min_speed: Annotated[float, Field(ge=0, strict=True)] = 0.5
    max_speed: Annotated[float, Field(gt=0, strict=True)] = 4.0
    carry_over: bool = True    # a faster/slower also raises/lowers the later steps' targets


class Cue(_Strict):
    say: Phrases                                   # variants, rotated without immediate repeats
    at: SignedDuration | None = None               # from the step's start; negative: before its end
    every: Duration | None = None                  # repeating
    start: Duration | None = None                  # first repeat (default: one `every` in)
    stale_after: Duration = 10.0                   # drop it if it can't be said within this
    audio: str | None = None                       # a recording to play instead of speech


class Step(_Strict):
    name: Text
    duration: Duration
    speed: Annotated[float, Field(gt=0, strict=True)]
    incline: Annotated[float, Field(ge=-10, le=40, strict=True)] | None = None
    announce: Text | None = None                   # replaces the automatic announcement
    cues: Annotated[list[Cue], Field(max_length=MAX_CUES_PER_STEP)] = []


class Repeat(_Strict):
    repeat: Annotated[int, Field(ge=1, le=MAX_REPEAT, strict=True)]
    name: Text | None = None
    steps: Annotated[list[Step], Field(min_length=1, max_length=MAX_STEPS)]


class ReplacePhrases(_Strict):
    replace: Phrases


def _step_kind(v: Any) -> str:
    return "Repeat" if isinstance(v, dict) and "repeat" in v else "Step"


def _phrases_kind(v: Any) -> str:
    return "Replace" if isinstance(v, dict) else "Add"


StepOrRepeat = Annotated[Union[Annotated[Step, Tag("Step")], Annotated[Repeat, Tag("Repeat")]],
                         Discriminator(_step_kind)]
CommandPhrases = Annotated[Union[Annotated[Phrases, Tag("Add")],
                                 Annotated[ReplacePhrases, Tag("Replace")]],
                           Discriminator(_phrases_kind)]


class CueScript(_Strict):
    title: Text
    author: Text | None = None
    description: Annotated[str, BeforeValidator(_visible_text), Field(max_length=5000)] | None = None
    units: Literal["mph", "km/h"] = "mph"
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")] = "en"
    voice: Voice = Voice()
    progression: Progression = Progression()
    cue_gap: Duration = 1.5            # minimum silence before a cue or announcement
    commands: dict[str, CommandPhrases] = {}
    # Wake-word mode: every command begins with it ("coach, faster"), for noisy gyms.
    wake_word: Text | None = None
    steps: Annotated[list[StepOrRepeat], Field(min_length=1, max_length=MAX_STEPS)]

    # Set by load_script: where the script lives (cue audio paths are relative to it).
    path: Path | None = Field(default=None, exclude=True)

    @property
    def folder(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def vocabulary(self) -> Vocabulary:
        """The default vocabulary of the script's language with its `commands` applied, each
        phrase after the wake word if there is one."""
        add = {i: p for i, p in self.commands.items() if isinstance(p, list)}
        replace = {i: p.replace for i, p in self.commands.items() if isinstance(p, ReplacePhrases)}
        return Vocabulary.default(self.language).extended(add, replace).addressed(self.wake_word)

    def program(self) -> "Program":
        return Program.of(self)


# --- the program: steps flattened, rounds numbered --------------------------------------------

@dataclass(frozen=True)
class PlannedStep:
    number: int                   # 1-based position in the session
    name: str
    duration: float
    speed: float
    incline: float | None
    cues: tuple[Cue, ...]
    announce: str | None
    round: int | None = None      # round k of `rounds` in a repeat block
    rounds: int | None = None
    block: str | None = None
    first_in_round: bool = False

    def cue_times(self) -> list[tuple[float, int]]:
        """(offset from the step's start, index into `cues`) for every cue due in this step.

        A repeating cue that would fall within YIELD_SECONDS of a one-off cue is left out: the
        trainer placed the one-off there on purpose, and two cues in a row is just chatter."""
        once = [(c.at if c.at >= 0 else self.duration + c.at, i)
                for i, c in enumerate(self.cues) if c.at is not None]
        times = list(once)
        for i, cue in enumerate(self.cues):
            if cue.every is not None and cue.at is None:
                t = cue.start if cue.start is not None else cue.every
                while t < self.duration - 1e-9:
                    if all(abs(t - o) >= YIELD_SECONDS for o, _ in once):
                        times.append((t, i))
                    t += cue.every
        return sorted(times)


@dataclass(frozen=True)
class Program:
    steps: tuple[PlannedStep, ...]

    @classmethod
    def of(cls, script: CueScript) -> "Program":
        steps: list[PlannedStep] = []
        for item in script.steps:
            if isinstance(item, Step):
                steps.append(_planned(item, len(steps) + 1))
            else:
                for r in range(1, item.repeat + 1):
                    for j, s in enumerate(item.steps):
                        steps.append(_planned(s, len(steps) + 1, r, item.repeat, item.name,
                                              first_in_round=(j == 0)))
        return cls(tuple(steps))

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.steps)


def _planned(step: Step, number: int, rnd: int | None = None, rounds: int | None = None,
             block: str | None = None, first_in_round: bool = False) -> PlannedStep:
    return PlannedStep(number, step.name, step.duration, step.speed, step.incline,
                       tuple(step.cues), step.announce, rnd, rounds, block, first_in_round)


# --- loading and checking ---------------------------------------------------------------------

def load_script(path: str | Path) -> CueScript:
    """Read, validate and return the cue script at `path`; raise ScriptError on any problem."""
    try:
        doc = read_yaml(path, what="cue script")
    except ProblemsError as e:
        raise ScriptError(e.problems) from None
    return script_from_document(doc, Path(path))


def script_from_document(doc: Document, path: Path | None = None) -> CueScript:
    if not isinstance(doc.value, dict):
        raise ScriptError([doc.problem((), "a cue script is a mapping of keys (title:, steps:, "
                                            f"...), not {_kind(doc.value)}")])
    try:
        script = CueScript.model_validate(doc.value)
    except ValidationError as e:
        raise ScriptError(_located(e, doc)) from None
    if path is not None:
        script = script.model_copy(update={"path": Path(path).resolve()})
    problems = _check_meaning(script, doc)
    if problems:
        raise ScriptError(problems)
    return script


def check_script(path: str | Path) -> list[Problem]:
    """Every problem in the script at `path` (empty when it is valid)."""
    try:
        load_script(path)
    except ScriptError as e:
        return e.problems
    return []


def _kind(v: Any) -> str:
    return {list: "a list", str: "a single value", int: "a number", float: "a number",
            bool: "true/false", type(None): "nothing"}.get(type(v), type(v).__name__)


def _data_path(loc: tuple, root: Any) -> tuple[tuple, Any]:
    """Pydantic's error location as a path in the document (dropping union tags), and the node."""
    path: list = []
    node = root
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif isinstance(part, str) and part[:1].isupper():
            continue          # a union member's tag (Step, Repeat, Add, Replace)
        else:
            path.append(part)
            node = None
    return tuple(path), node


def _fields_for(path: tuple, parent: Any) -> list[str]:
    names = [p for p in path if isinstance(p, str)]
    last = names[-1] if names else None
    if last == "steps":
        model = Repeat if isinstance(parent, dict) and "repeat" in parent else Step
    elif last == "commands":
        model = ReplacePhrases
    else:
        model = {None: CueScript, "voice": Voice, "progression": Progression,
                 "cues": Cue}.get(last, CueScript)
    return [f for f in model.model_fields if f != "path"]


def _located(e: ValidationError, doc: Document) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple] = set()
    for err in e.errors():
        path, _ = _data_path(err["loc"], doc.value)
        kind, msg = err["type"], err["msg"]
        name = next((p for p in reversed(path) if isinstance(p, str)), None)
        if kind == "extra_forbidden":
            parent = _data_path(path[:-1], doc.value)[1]
            fields = _fields_for(path[:-1], parent)
            near = difflib.get_close_matches(str(path[-1]), fields, n=1, cutoff=0.5)
            hint = f"; did you mean {near[0]!r}?" if near else f"; valid keys: {', '.join(fields)}"
            problem = doc.problem(path, f"unknown key {path[-1]!r}{hint}", key=True)
        elif kind == "missing":
            where = f" in {name!r}" if len(path) > 1 and isinstance(path[-2], str) else ""
            problem = doc.problem(path[:-1], f"missing required key {path[-1]!r}{where}")
        else:
            msg = msg.removeprefix("Value error, ")
            if kind in ("model_type", "model_attributes_type", "dict_type"):
                msg = f"expected a mapping of keys, not {_kind(err.get('input'))}"
            elif kind == "too_short":
                n = err.get("ctx", {}).get("min_length", 1)
                msg = f"needs at least {n} item{'s' if n != 1 else ''}"
            elif kind == "too_long":
                n = err.get("ctx", {}).get("max_length")
                msg = f"has too many items (at most {n})"
            elif kind == "list_type":
                msg = f"expected a list, not {_kind(err.get('input'))}"
            elif kind == "union_tag_invalid":
                msg = "expected a step (name:, duration:, speed:) or a repeat block"
            elif kind in ("float_type", "int_type", "float_parsing", "int_parsing"):
                given = err.get("input")
                whole = kind.startswith("int")
                msg = f"expected {'a whole number' if whole else 'a number'}, not {given!r}"
                if isinstance(given, str) and re.match(r"^\s*-?[\d.]+\s*\S", given):
                    msg += f" (write the number alone: speeds are in the script's `units:`, inclines in percent)"
                elif isinstance(given, bool):
                    msg += " (YAML reads yes/no/true/false/on/off as booleans)"
            problem = doc.problem(path, f"{name}: {msg}" if name else msg)
        key = (problem.line, problem.col, problem.message)
        if key not in seen:
            seen.add(key)
            problems.append(problem)
    return problems


def _check_meaning(script: CueScript, doc: Document) -> list[Problem]:
    """What the schema cannot say: speeds inside the caps, cues inside their step, sane totals,
    commands that name real intents, audio files inside the script's folder."""
    problems: list[Problem] = []
    add = problems.append
    prog, units = script.progression, script.units
    supported = sorted(set(vocabulary_languages()) & set(phrase_languages()))
    if script.language.split("-")[0] not in supported:
        add(doc.problem(("language",), f"language {script.language!r} is not supported yet "
                                       f"(supported: {', '.join(supported)})"))
        return problems
    top = MAX_SPEED[units]
    if prog.max_speed > top:
        add(doc.problem(("progression", "max_speed"),
                        f"max_speed {prog.max_speed:g} {units} is beyond any treadmill "
                        f"(at most {top:g} {units})"))
    if prog.increment < MIN_INCREMENT - 1e-9:
        add(doc.problem(("progression", "increment"),
                        f"increment {prog.increment:g} is finer than a treadmill can step "
                        f"(at least {MIN_INCREMENT:g} {units})"))
    if prog.min_speed >= prog.max_speed:
        add(doc.problem(("progression", "min_speed"),
                        f"min_speed {prog.min_speed:g} must be below max_speed {prog.max_speed:g}"))

    def check_step(step: Step, path: tuple) -> None:
        if step.duration <= 0:
            add(doc.problem(path + ("duration",), "duration must be longer than 0s"))
        if step.duration > MAX_STEP_SECONDS:
            add(doc.problem(path + ("duration",), f"a step of {format_duration(step.duration)} "
                            f"is too long (at most {MAX_STEP_SECONDS // 3600}h)"))
        if step.speed > top:
            add(doc.problem(path + ("speed",), f"speed {step.speed:g} {units} is beyond any "
                            f"treadmill (at most {top:g} {units})"))
        elif prog.min_speed < prog.max_speed and not prog.min_speed <= step.speed <= prog.max_speed:
            add(doc.problem(path + ("speed",), f"speed {step.speed:g} is outside the "
                            f"progression's limits ({prog.min_speed:g} to {prog.max_speed:g} {units})"))
        for k, cue in enumerate(step.cues):
            cpath = path + ("cues", k)
            given = [key for key in ("at", "every") if getattr(cue, key) is not None]
            if len(given) != 1:
                add(doc.problem(cpath, "a cue needs exactly one of 'at' (once) or 'every' "
                                       f"(repeating); this one has {' and '.join(given) or 'neither'}"))
                continue
            if cue.at is not None and abs(cue.at) >= step.duration and step.duration > 0:
                add(doc.problem(cpath + ("at",), f"cue at {'-' if cue.at < 0 else ''}"
                                f"{format_duration(cue.at)} falls outside its step "
                                f"({format_duration(step.duration)} long)"))
            if cue.every is not None:
                if cue.every < MIN_EVERY_SECONDS:
                    add(doc.problem(cpath + ("every",), f"every: {format_duration(cue.every)} is "
                                    f"too often (at least {MIN_EVERY_SECONDS}s)"))
                if cue.start is not None and cue.start >= step.duration:
                    add(doc.problem(cpath + ("start",), "start is after the step ends"))
            elif cue.start is not None:
                add(doc.problem(cpath + ("start",), "'start' goes with 'every'"))
            if cue.audio is not None:
                msg = _audio_problem(cue.audio, script.folder)
                if msg:
                    add(doc.problem(cpath + ("audio",), msg))

    for i, item in enumerate(script.steps):
        if isinstance(item, Step):
            check_step(item, ("steps", i))
        else:
            for j, step in enumerate(item.steps):
                check_step(step, ("steps", i, "steps", j))
    if not problems:
        planned = sum(item.repeat * len(item.steps) if isinstance(item, Repeat) else 1
                      for item in script.steps)
        if planned > MAX_PLANNED_STEPS:
            add(doc.problem(("steps",), f"with its repeats the session has {planned} steps; "
                                        f"the limit is {MAX_PLANNED_STEPS}"))
        moments = sum((item.repeat if isinstance(item, Repeat) else 1)
                      * sum(_cue_moments(step) for step in
                            (item.steps if isinstance(item, Repeat) else [item]))
                      for item in script.steps)
        if moments > MAX_CUE_TIMES:
            add(doc.problem(("steps",), f"its cues come due {moments:,} times in a session; "
                                        f"the limit is {MAX_CUE_TIMES:,} (make `every:` cues "
                                        "less frequent, or fewer)"))
    total = script.program().duration if not problems else 0
    if total > MAX_TOTAL_SECONDS:
        add(doc.problem(("steps",), f"the session would last {format_duration(total)}; "
                                    f"the limit is {MAX_TOTAL_SECONDS // 3600}h"))

    for intent in script.commands:
        if intent not in SESSION_INTENTS:
            near = difflib.get_close_matches(intent, SESSION_INTENTS, n=1, cutoff=0.5)
            hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(SESSION_INTENTS)}"
            add(doc.problem(("commands", intent), f"unknown command {intent!r}; {hint}", key=True))
    if not any(p.message.startswith("unknown command") for p in problems):
        try:
            script.vocabulary()
        except VocabularyError as e:
            where = ("wake_word",) if str(e).startswith("wake word") else \
                ("commands",) if script.commands else ("language",)
            add(doc.problem(where, str(e)))
    return problems


def _cue_moments(step: Step) -> int:
    """How many times the step's cues come due (an upper bound: every repeat counted)."""
    n = 0
    for cue in step.cues:
        if cue.every:
            first = cue.start if cue.start is not None else cue.every
            n += max(0, int((step.duration - first) // cue.every) + 1)
        else:
            n += 1
    return n


def _audio_problem(ref: str, folder: Path) -> str | None:
    """Why the cue audio `ref` cannot be used, or None. Only files inside the script's folder."""
    p = Path(ref)
    if p.is_absolute() or ref.startswith("~"):
        return f"audio {ref!r} must be a path relative to the script's folder"
    shown = ref if len(ref) <= 80 else ref[:60] + "..." + ref[-12:]
    try:
        resolved = (folder / p).resolve()
    except (OSError, RuntimeError):     # a symlink loop (RuntimeError before Python 3.13)
        return f"audio {shown!r} is a symbolic link that goes round in a loop"
    try:
        resolved.relative_to(folder.resolve())
    except ValueError:
        return f"audio {shown!r} is outside the script's folder"
    if p.suffix.lower() not in AUDIO_SUFFIXES:
        return f"audio {shown!r} is not a sound file ({', '.join(sorted(AUDIO_SUFFIXES))})"
    try:
        if not resolved.is_file():
            return f"audio file {shown!r} not found next to the script"
    except OSError as e:                # a name too long for the file system
        return f"audio {shown!r} cannot be looked up ({e.strerror or e})"
    try:
        import soundfile
        info = soundfile.info(str(resolved))
        if info.frames <= 0:
            return f"audio file {shown!r} holds no sound"
    except Exception as e:   # soundfile raises its own error types for every kind of bad file
        return f"audio file {shown!r} cannot be read: {str(e).splitlines()[0][:120]}"
    return None
