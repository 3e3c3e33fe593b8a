"""Property-based: whatever a trainer's editor (or an attacker) produces, `voicecoach check`
answers with located problems or "ok", never a traceback."""
from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import SCRIPTS
from voicecoach.cli import main
from voicecoach.script import ScriptError, load_script

FLAGSHIP = (SCRIPTS / "backwards-walk.yaml").read_text("utf-8")
INTERVALS = (SCRIPTS / "backwards-intervals.yaml").read_text("utf-8")
_DIR = Path(tempfile.mkdtemp(prefix="voicecoach-fuzz-"))
LOCATED = re.compile(r"^.+:\d+:\d+: \S.*$")

# VOICECOACH_FUZZ_EXAMPLES=5000 for a longer hunt than CI's.
FUZZ = settings(max_examples=int(os.environ.get("VOICECOACH_FUZZ_EXAMPLES", 150)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check(data: bytes) -> tuple[int, str, str]:
    """Run `voicecoach check` on `data` in-process; any exception escaping is a test failure."""
    path = _DIR / "fuzzed.yaml"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["check", str(path)])
    return status, out.getvalue(), err.getvalue()


def assert_clean(data: bytes) -> None:
    status, out, err = check(data)
    assert status in (0, 1)
    assert "Traceback" not in err
    if status == 0:
        assert out.startswith(str(_DIR / "fuzzed.yaml") + ": ok") and not err
    else:
        lines = err.splitlines()
        assert lines and all(LOCATED.match(l) for l in lines), err
    # The library call agrees with the command.
    try:
        load_script(_DIR / "fuzzed.yaml")
        assert status == 0
    except ScriptError as e:
        assert status == 1 and e.problems


# --- mangled text ------------------------------------------------------------------------------

@st.composite
def mangled(draw, base: str):
    text = base
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "insert", "replace", "dup_line", "swap_lines",
                                   "indent", "truncate"]))
        n = len(text)
        if n == 0:
            break
        i = draw(st.integers(0, n - 1))
        if op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 40)):]
        elif op == "insert":
            junk = draw(st.sampled_from([":", "- ", "[", "{", "}", "\t", "&a ", "*a", "!!str ",
                                         "!!python/object:os.system ", "'", '"', "\n", "#",
                                         "-20s", "every: 1s", "repeat: 99999", "1e308", "..",
                                         "../../x.wav", "~", "null", "é", "\x00", "\ud7ff"]))
            text = text[:i] + junk + text[i:]
        elif op == "replace":
            text = text[:i] + draw(st.characters()) + text[i + 1:]
        else:
            lines = text.splitlines(keepends=True)
            j = draw(st.integers(0, len(lines) - 1))
            if op == "dup_line":
                lines.insert(j, lines[j])
            elif op == "swap_lines":
                k = draw(st.integers(0, len(lines) - 1))
                lines[j], lines[k] = lines[k], lines[j]
            elif op == "indent":
                lines[j] = " " * draw(st.integers(1, 6)) + lines[j]
            else:
                lines = lines[:j]
            text = "".join(lines)
    return text


@FUZZ
@given(mangled(FLAGSHIP))
def test_mangled_flagship_never_crashes(text):
    assert_clean(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(mangled(INTERVALS))
def test_mangled_intervals_never_crash(text):
    assert_clean(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_never_crash(data):
    assert_clean(data)


# --- structurally plausible scripts with wrong values -------------------------------------------

KEYS = ["title", "author", "units", "language", "voice", "progression", "steps", "commands",
        "cue_gap", "name", "duration", "speed", "incline", "cues", "at", "every", "start", "say",
        "audio", "repeat", "rate", "volume", "increment", "min_speed", "max_speed", "carry_over",
        "replace", "stale_after", "announce"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["90s", "-20s", "1m30s", "2m", "0s", "1:30", "mph", "km/h", "furlongs",
                     "go", "faster", "../x.wav", "/etc/passwd", "clips/a.wav", "", "1e9h"]),
    st.text(max_size=20))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8),
                                            inner, max_size=5)),
    max_leaves=30)


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=8))
def test_schema_shaped_nonsense_never_crashes(doc):
    assert_clean(yaml.safe_dump(doc, allow_unicode=True).encode("utf-8"))


@FUZZ
@given(st.lists(st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=10), "duration": values, "speed": values},
    optional={"cues": st.lists(st.dictionaries(st.sampled_from(KEYS), values, max_size=4),
                               max_size=3),
              "repeat": values, "steps": values}), min_size=0, max_size=4))
def test_steps_with_wild_values_never_crash(steps):
    assert_clean(yaml.safe_dump({"title": "fuzz", "steps": steps}, allow_unicode=True).encode())


# Valid but extreme: long steps, many of them, repeats, frequent cues, fine increments.
_extreme_step = st.fixed_dictionaries({
    "name": st.sampled_from(["Walk", "Jog", "Rest"]),
    "duration": st.sampled_from(["10s", "5m", "1h", "4h"]),
    "speed": st.sampled_from([0.5, 1.0, 2.4, 6.0]),
    "cues": st.lists(st.one_of(
        st.fixed_dictionaries({"every": st.sampled_from(["5s", "30s", "5m"]),
                               "say": st.sampled_from(["Tall.", "Breathe.", "Arms."])}),
        st.fixed_dictionaries({"at": st.sampled_from(["3s", "9s"]),
                               "say": st.text(alphabet="abc ", min_size=1, max_size=8)
                               .filter(str.strip)})), max_size=40),
})


@settings(max_examples=int(os.environ.get("VOICECOACH_FUZZ_EXAMPLES", 40)) // 2, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(blocks=st.lists(st.one_of(_extreme_step, st.fixed_dictionaries(
           {"repeat": st.integers(1, 50), "steps": st.lists(_extreme_step, min_size=1, max_size=4)})),
           min_size=1, max_size=30),
       increment=st.sampled_from([0.1, 0.5]))
def test_every_script_check_accepts_has_bounded_work(blocks, increment):
    # What `check` accepts must be cheap to run: the texts rendered before the first word and
    # the cue moments of the whole session are bounded, whatever the script (issue 13: 500
    # steps took 109 s and 4 GB before a word was spoken). Timings: `bench simulate`, docs.
    from voicecoach.script import MAX_CUE_TIMES, MAX_PLANNED_STEPS
    from voicecoach.session import AHEAD_STEPS, speakable_texts
    doc = {"title": "Extreme", "progression": {"increment": increment, "min_speed": 0.5,
                                               "max_speed": 12}, "steps": blocks}
    path = _DIR / "extreme.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        script = load_script(path)
    except ScriptError as e:
        assert all(LOCATED.match(str(p)) for p in e.problems)
        return
    program = script.program()
    assert len(program.steps) <= MAX_PLANNED_STEPS
    assert sum(len(s.cue_times()) for s in program.steps) <= MAX_CUE_TIMES
    ahead = speakable_texts(script)
    # At most AHEAD_STEPS steps' cues and 7 announcements each, and the fixed phrases.
    assert len(ahead) <= AHEAD_STEPS * (40 + 7) + 7 * 5 * AHEAD_STEPS + 60


def test_the_limits_benchmark_scripts_are_accepted_and_at_the_limits(tmp_path):
    # `voicecoach bench limits` times these (docs/benchmarks.md): they must stay what check
    # accepts, and as large as it accepts, or its figures say nothing about the limits.
    from voicecoach.bench_limits import scripts
    from voicecoach.script import MAX_CUE_TIMES, MAX_PLANNED_STEPS
    programs = {}
    for name, text in scripts().items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        programs[name] = load_script(path).program()
    assert len(programs["steps"].steps) == 500
    assert len(programs["repeats"].steps) == MAX_PLANNED_STEPS
    moments = sum(len(s.cue_times()) for s in programs["long"].steps)
    assert 0.8 * MAX_CUE_TIMES < moments <= MAX_CUE_TIMES
