"""The cue script format: valid scripts load into the program they describe; every kind of bad
input gives a located, readable problem and never a traceback."""
from __future__ import annotations

import re
import wave

import pytest

from conftest import SCRIPTS
from voicecoach.cli import main
from voicecoach.script import (CueScript, ScriptError, check_script, format_duration,
                               load_script, parse_duration)

MINIMAL = """\
title: Test walk
steps:
  - name: Walk
    duration: 2m
    speed: 1.0
"""


def problems_of(path) -> list[str]:
    return [str(p) for p in check_script(path)]


def one_problem(path) -> str:
    found = problems_of(path)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("text,seconds", [
    ("90s", 90), ("2m", 120), ("1m30s", 90), ("1h", 3600), ("1:30", 90), ("1:02:03", 3723),
    ("2 min", 120), ("45sec", 45), ("0.5m", 30), (" 1m 5s ", 65)])
def test_durations_in_the_trainers_notations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5", "m", "1:75", "-5m", "5 minutes and a bit"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_signed_durations_and_formatting():
    assert parse_duration("-20s", signed=True) == -20
    assert format_duration(90) == "1m30s" and format_duration(3600) == "1h"
    assert format_duration(0) == "0s"


def test_all_shipped_scripts_are_valid():
    paths = sorted(SCRIPTS.glob("*.yaml"))
    assert len(paths) >= 3
    for path in paths:
        assert problems_of(path) == [], path


def test_flagship_program_is_five_to_ten_minutes_and_starts_at_1_mph():
    script = load_script(SCRIPTS / "backwards-walk.yaml")
    program = script.program()
    assert 5 * 60 <= program.duration <= 10 * 60
    assert script.units == "mph" and program.steps[0].speed == 1.0
    # The later work is a little faster than the start, and no faster than the caps allow.
    assert max(s.speed for s in program.steps) > 1.0
    assert script.progression.increment <= 0.3


def test_repeat_blocks_flatten_into_numbered_rounds():
    program = load_script(SCRIPTS / "backwards-intervals.yaml").program()
    rounds = [(s.name, s.round, s.rounds) for s in program.steps if s.rounds]
    assert rounds == [("Brisk", 1, 3), ("Easy", 1, 3), ("Brisk", 2, 3), ("Easy", 2, 3),
                      ("Brisk", 3, 3), ("Easy", 3, 3)]
    assert [s.number for s in program.steps] == list(range(1, 9))


def test_cue_times_at_before_end_and_every():
    script = CueScript.model_validate({
        "title": "t", "steps": [{"name": "s", "duration": "2m", "speed": 1, "cues": [
            {"at": "10s", "say": "a"}, {"at": "-20s", "say": "b"},
            {"every": "45s", "say": ["c", "d"]}, {"every": "30s", "start": "5s", "say": "e"}]}]})
    times = script.program().steps[0].cue_times()
    # Repeats at 5s and 95s yield to the one-offs at 10s and 100s (within 10 s of them).
    assert times == [(10, 0), (35, 3), (45, 2), (65, 3), (90, 2), (100, 1)]


def test_commands_add_and_replace_phrases():
    script = load_script(SCRIPTS / "forward-warmup.yaml")
    vocab = script.vocabulary()
    assert vocab.intent_for("pick it up") == "faster"
    assert vocab.intent_for("faster") == "faster"          # the defaults stay
    assert vocab.intent_for("how much longer") == "status"
    assert vocab.phrases["status"] == ("status", "time left", "how long", "how much longer")


def test_unknown_key_names_the_nearest_valid_key(write_script):
    path = write_script(MINIMAL.replace("    speed: 1.0\n", "    sped: 1.0\n"))
    problems = problems_of(path)
    assert any(re.search(r"script\.yaml:5:5: unknown key 'sped'; did you mean 'speed'\?", p)
               for p in problems), problems
    assert any("missing required key 'speed'" in p for p in problems)


def test_unknown_top_level_key_and_nested_key(write_script):
    path = write_script("titel: x\n" + MINIMAL + "voice: {rat: 150}\n")
    problems = problems_of(path)
    assert any(":1:1: unknown key 'titel'; did you mean 'title'?" in p for p in problems)
    assert any(":7:9: unknown key 'rat'; did you mean 'rate'?" in p for p in problems)


@pytest.mark.parametrize("body,where,message", [
    (MINIMAL.replace("2m", "5"), ":4:15:", "duration 5 has no unit"),
    (MINIMAL.replace("2m", "-2m"), ":4:15:", "cannot be negative"),
    (MINIMAL.replace("2m", "0s"), ":4:15:", "longer than 0s"),
    (MINIMAL.replace("2m", "100h"), ":4:15:", "longer than 12 hours"),
    (MINIMAL.replace("2m", "5h"), ":4:15:", "too long (at most 4h)"),
    (MINIMAL.replace("1.0", "-1"), ":5:12:", "greater than 0"),
    (MINIMAL.replace("1.0", "90"), ":5:12:", "beyond any treadmill"),
    (MINIMAL.replace("1.0", "3.9\n    incline: 200"), ":6:14:", "less than or equal to 40"),
    (MINIMAL.replace("1.0", "fast"), ":5:12:", "expected a number, not 'fast'"),
    (MINIMAL + "units: furlongs\n", ":6:8:", "'mph' or 'km/h'"),
    (MINIMAL.replace("1.0", "5.0"), ":5:12:", "outside the progression's limits (0.5 to 4 mph)"),
    (MINIMAL + "progression: {min_speed: 3, max_speed: 2}\n", ":6:26:", "must be below max_speed"),
    # Once looped forever listing the speeds a step can be at.
    (MINIMAL + "progression: {increment: 1.0e-300}\n", ":6:26:", "finer than a treadmill can step"),
    (MINIMAL + "commands: {fastr: [quick]}\n", ":6:12:", "unknown command 'fastr'; did you mean 'faster'?"),
    (MINIMAL + "commands: {faster: [pause]}\n", ":6:11:", "'pause' is given to both"),
    (MINIMAL + "    cues:\n      - at: 3m\n        say: late\n", ":7:13:", "falls outside its step"),
    (MINIMAL + "    cues:\n      - at: -3m\n        say: early\n", ":7:13:", "falls outside its step"),
    (MINIMAL + "    cues:\n      - every: 1s\n        say: often\n", ":7:16:", "too often"),
    (MINIMAL + "    cues:\n      - say: when\n", ":7:9:", "exactly one of 'at'"),
    (MINIMAL + "    cues:\n      - at: 5s\n", ":7:9:", "missing required key 'say'"),
    (MINIMAL + "  - repeat: 0\n    steps: [{name: x, duration: 1m, speed: 1}]\n", ":6:13:",
     "repeat: Input should be greater than or equal to 1"),
    (MINIMAL + "  - repeat: 2\n", ":6:5:", "missing required key 'steps'"),
    ("steps: []\ntitle: x\n", ":1:8:", "steps: needs at least 1 item"),
    ("title: x\n", ":1:1:", "missing required key 'steps'"),
    (MINIMAL + "language: fr\n", ":6:11:", "language 'fr' is not supported yet (supported: en, ko)"),
    (MINIMAL + "language: English\n", ":6:11:", "should match pattern"),
    ("- just\n- a list\n", ":1:1:", "a cue script is a mapping"),
    ("title: [unclosed\n", ":2:1:", "not valid YAML"),
    ("title: a\ntitle: b\nsteps: []\n", ":2:1:", "duplicate key 'title' (first given on line 1)"),
    ("title: !!python/object/apply:os.system [echo pwned]\nsteps: []\n", ":1:8:",
     "YAML tag '!!python/object/apply:os.system' is not allowed"),
    ("title: !custom x\nsteps: []\n", ":1:8:", "YAML tag '!custom' is not allowed"),
    ("", ":1:1:", "cue script is empty"),
    ("# only a comment\n", ":1:1:", "cue script is empty"),
    ("a: 1\n---\nb: 2\n", ":3:1:", "holds 2 YAML documents"),
])
def test_bad_scripts_get_one_located_problem(write_script, body, where, message):
    problem = one_problem(write_script(body))
    assert where in problem and message in problem, problem


def test_not_utf8_is_located_at_the_bad_byte(write_script):
    path = write_script(b"title: caf\xe9\nsteps: []\n")
    assert one_problem(path).endswith(":1:11: not UTF-8 text (byte 0xe9); save the cue script as UTF-8")


def test_utf8_with_bom_is_fine(write_script):
    assert problems_of(write_script("\ufeff" + MINIMAL)) == []


def test_binary_file_is_not_a_script(write_script):
    assert "NUL character" in one_problem(write_script(b"title: x\x00\x01\x02"))


def test_over_one_megabyte_is_refused_before_parsing(write_script):
    path = write_script(MINIMAL + "# " + "x" * 1_000_001 + "\n")
    assert "the limit is 1 MB" in one_problem(path)


def test_alias_bomb_is_stopped(write_script):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]")
    path = write_script("\n".join(lines) + "\n" + MINIMAL)
    assert "aliases expanding too far" in one_problem(path)


def test_deep_nesting_is_stopped(write_script):
    assert "nested too deeply" in one_problem(write_script("title: " + "[" * 60 + "]" * 60 + "\n"))


def test_yes_no_on_off_stay_words(write_script):
    script = load_script(write_script(MINIMAL + 'commands: {"yes": [yep, on], "no": [off]}\n'))
    vocab = script.vocabulary()
    assert vocab.intent_for("on") == "yes" and vocab.intent_for("off") == "no"


def _tone(path, seconds=0.2):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
        w.writeframes(b"\x01\x00" * int(16000 * seconds))


def test_cue_audio_inside_the_folder_is_accepted(tmp_path, write_script):
    (tmp_path / "clips").mkdir()
    _tone(tmp_path / "clips" / "rails.wav")
    script = load_script(write_script(
        MINIMAL + "    cues:\n      - at: 5s\n        say: Let go of the rails\n"
                  "        audio: clips/rails.wav\n"))
    assert script.program().steps[0].cues[0].audio == "clips/rails.wav"


@pytest.mark.parametrize("ref,message", [
    ("../outside.wav", "outside the script's folder"),
    ("clips/../../outside.wav", "outside the script's folder"),
    ("/etc/passwd", "must be a path relative to the script's folder"),
    ("~/x.wav", "must be a path relative"),
    ("missing.wav", "not found next to the script"),
    ("notes.txt", "not a sound file"),
    ("broken.wav", "cannot be read"),
    ("link.wav", "outside the script's folder"),
])
def test_cue_audio_problems(tmp_path, write_script, ref, message):
    inner = tmp_path / "inner"
    inner.mkdir()
    _tone(tmp_path / "outside.wav")
    (inner / "notes.txt").write_text("hello")
    (inner / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    (inner / "link.wav").symlink_to(tmp_path / "outside.wav")
    path = inner / "script.yaml"
    path.write_text(MINIMAL + f"    cues:\n      - at: 5s\n        say: hi\n        audio: {ref!r}\n")
    problem = one_problem(path)
    assert ":9:16:" in problem and message in problem, problem


def test_check_command_reports_problems_and_exit_status(write_script, capsys):
    good = write_script(MINIMAL, "good.yaml")
    bad = write_script(MINIMAL.replace("2m", "2 fortnights"), "bad.yaml")
    assert main(["check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "good.yaml: ok: 'Test walk', 1 steps, 2m" in out
    assert main(["check", str(good), str(bad), str(good.parent / "missing.yaml")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{bad}:4:15: duration: '2 fortnights' is not a duration")
    assert err[1] == f"{good.parent / 'missing.yaml'}:1:1: no such cue script"


def test_check_a_folder_is_a_clear_problem(tmp_path, capsys):
    assert main(["check", str(tmp_path)]) == 1
    assert "is a folder, not a cue script" in capsys.readouterr().err


def test_script_error_lists_every_problem_sorted(write_script):
    body = MINIMAL.replace("2m", "5").replace("1.0", "-1") + "voice: {rate: 5000}\n"
    with pytest.raises(ScriptError) as e:
        load_script(write_script(body))
    lines = [p.line for p in e.value.problems]
    assert lines == sorted(lines) and len(lines) == 3


def test_default_vocabulary_has_every_phrase_the_coach_promises():
    from voicecoach.vocabulary import Vocabulary
    promised = {"go": ["start", "go", "let's go", "begin", "resume", "continue"],
                "pause": ["pause", "hold on", "wait"], "stop": ["stop"],
                "end": ["end session", "finish", "I'm done"],
                "faster": ["faster", "speed up", "up"], "slower": ["slower", "slow down", "down"],
                "next": ["next", "skip"], "repeat": ["repeat", "say again"],
                "status": ["status", "time left", "how long"], "help": ["help", "what can I say"],
                "yes": ["yes", "yeah"], "no": ["no", "nope"]}
    vocab = Vocabulary.default("en")
    for intent, phrases in promised.items():
        for phrase in phrases:
            assert vocab.intent_for(phrase) == intent, phrase
    assert vocab.intent_for("What can I say?") == "help"      # punctuation and case do not matter
    assert vocab.intent_for("let\u2019s go") == "go"            # nor a typographic apostrophe
