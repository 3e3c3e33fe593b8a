"""Whole sessions in virtual time: what is said, when, and in what order."""
from __future__ import annotations

import json

import pytest

from conftest import SCRIPTS
from voicecoach.cli import main
from voicecoach.events import COMMAND, CUE, DROPPED, RESPONSE, STATE, STEP
from voicecoach.script import CueScript, load_script
from voicecoach.session import speakable_texts
from voicecoach.simulate import parse_say, simulate

WALK = load_script(SCRIPTS / "backwards-walk.yaml")
INTERVALS = load_script(SCRIPTS / "backwards-intervals.yaml")
WARMUP = load_script(SCRIPTS / "forward-warmup.yaml")
KOREAN = load_script(SCRIPTS / "backwards-walk-ko.yaml")
SPOKEN = (STEP, CUE, RESPONSE)


def run(script, *says: str, **kw):
    return simulate(script, [parse_say(s) for s in says], **kw)


def spoken(events, kind=None):
    return [e for e in events if e.type in SPOKEN and (kind is None or e.type == kind)]


def texts(events, kind=None):
    return [e.text for e in spoken(events, kind) if e.text]


def make(steps, **top) -> CueScript:
    return CueScript.model_validate({"title": "T", "steps": steps, **top})


def test_a_whole_session_runs_to_the_end_on_time():
    events = run(WALK, "0:05 go")
    finished = [e for e in events if e.type == STATE and e.text == "finished"]
    assert len(finished) == 1
    assert finished[0].t == pytest.approx(5 + WALK.program().duration)
    steps = [e for e in events if e.type == STEP]
    assert [e.step for e in steps] == [1, 2, 3, 4]
    assert [e.extra["step_start"] for e in steps] == pytest.approx([5, 95, 275, 455])
    assert texts(events)[-1] == "Session complete: 9 minutes. Well done."


def test_speech_never_overlaps_and_keeps_its_gaps():
    events = run(WALK, "0:05 go", "1:00 how long", "2:00 faster", "2:01 faster", "3:00 pause",
                 "3:30 go", "4:00 repeat", "5:00 help", "6:00 what")
    cut = {e.extra["utterance"]: e.t for e in events if e.type == DROPPED
           and e.extra.get("reason") == "interrupted"}
    intervals = []
    for e in spoken(events):
        end = min(e.t + e.extra["duration"], cut.get(e.extra["utterance"], float("inf")))
        intervals.append((e.t, end, e))
    for (s1, e1, a), (s2, e2, b) in zip(intervals, intervals[1:]):
        assert s2 >= e1 - 1e-6, (a, b)
        # Coaching cues and announcements leave the script's gap after what came before.
        if b.type in (CUE, STEP) and a.extra["utterance"] not in cut:
            assert s2 - e1 >= WALK.cue_gap - 1e-6, (a, b)


def test_every_point_of_the_trainers_guidance_is_spoken_at_a_sensible_moment():
    events = run(WALK, "0:00 go")
    said = [(e.t, e.text.lower()) for e in spoken(events) if e.text]

    def first(*words):
        return next(t for t, text in said if all(w in text for w in words))

    start_speed = first("step 1", "1 mile per hour")
    assert start_speed < 15                                  # start at 1 mph, said at once
    rails = first("let go of the rails")
    assert rails < 30                                        # hands free early in step 1
    why = next(text for t, text in said if "let go of the rails" in text)
    assert "stabilisers" in why and "core" in why and all(j in why for j in ("hip", "knee", "ankle"))
    assert first("posture") < 5 * 60                         # holding on ruins posture
    assert first("feet", "edge of the belt", "floor just beyond") < 60
    assert first("sweet spot") < 60
    assert first("stand tall") < 90
    assert first("swing your arms", "in sync") < 3 * 60
    comfortable = first("comfortable", "faster")
    assert 3 * 60 < comfortable < 5 * 60                     # once hands free feels fine
    assert first("raise the speed a little") > comfortable - 60
    assert 5 * 60 <= WALK.program().duration <= 10 * 60


def test_variants_rotate_without_immediate_repeats():
    events = run(INTERVALS, "0:01 go")
    brisk = [e.text for e in spoken(events, CUE) if e.text in
             ("Quick, short steps.", "Drive from the balls of your feet.", "Stay tall as you speed up.")]
    assert brisk == ["Quick, short steps.", "Drive from the balls of your feet.",
                     "Stay tall as you speed up."]
    every = [e.text for e in spoken(events, CUE) if e.text in
             ("Arms in sync with your legs.", "Shoulders relaxed.")]
    assert len(every) >= 4 and all(a != b for a, b in zip(every, every[1:]))


def test_rounds_are_announced():
    steps = texts(run(INTERVALS, "0:01 go"), STEP)
    assert [s.split(".")[0] for s in steps if "round" in s] == [
        "Intervals, round 1 of 3", "Intervals, round 2 of 3", "Intervals, round 3 of 3"]
    assert "Step 3 of 8: Easy. Set the treadmill to 1 mile per hour." in steps


def test_step_announcements_come_before_cues_due_at_the_same_moment():
    script = make([{"name": "A", "duration": "30s", "speed": 1, "cues": [{"at": "0s", "say": "cue A"}]},
                   {"name": "B", "duration": "30s", "speed": 1, "cues": [{"at": "0s", "say": "cue B"}]}])
    said = texts(run(script, "0:01 go"))
    assert said.index("Step 2 of 2: B. Set the treadmill to 1 mile per hour.") < said.index("cue B")
    assert said.index("Step 1 of 2: A. Set the treadmill to 1 mile per hour.") < said.index("cue A")


def test_a_stale_coaching_cue_is_dropped_not_spoken_late():
    long_text = " ".join(["word"] * 40)               # ~15 s of speech
    script = make([{"name": "A", "duration": "2m", "speed": 1, "cues": [
        {"at": "10s", "say": long_text},
        {"at": "12s", "say": "too late to matter", "stale_after": "3s"},
        {"at": "14s", "say": "still fresh", "stale_after": "30s"}]}])
    events = run(script, "0:00 go")
    dropped = [e for e in events if e.type == DROPPED and e.extra["reason"] == "stale"]
    assert [e.text for e in dropped] == ["too late to matter"]
    assert dropped[0].t == pytest.approx(12 + 3, abs=0.01)      # when it went stale
    assert "too late to matter" not in texts(events)
    assert "still fresh" in texts(events)


def test_an_acknowledgement_cuts_a_coaching_cue_at_once():
    long_text = " ".join(["word"] * 40)
    script = make([{"name": "A", "duration": "2m", "speed": 1,
                    "cues": [{"at": "20s", "say": long_text}]}])
    events = run(script, "0:00 go", "0:25 how long")
    cut = [e for e in events if e.type == DROPPED and e.extra["reason"] == "interrupted"
           and e.type != STEP and e.t > 0]
    assert [(e.t, e.text) for e in cut] == [(25.0, long_text)]
    status = [e for e in spoken(events) if e.text.startswith("Step 1 of 1, A.")]
    assert status[0].t == 25.0
    assert "1 minute 35 seconds left in this step" in status[0].text


def test_faster_and_slower_stop_at_the_caps():
    says = ["0:00 go"] + [f"0:{10 + i:02d} faster" for i in range(12)]
    events = run(WALK, *says)
    speeds = [e.extra["speed"] for e in spoken(events) if e.type != STEP and "speed" in e.extra]
    assert speeds == [1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.4, 2.5]
    assert max(speeds) == WALK.progression.max_speed
    assert texts(events).count("That's the top speed for this program: 2.5 miles per hour.") == 4
    says = ["0:00 go"] + [f"0:{10 + i:02d} slower" for i in range(5)]
    said = texts(run(WALK, *says))
    assert "Slower: 0.8 miles per hour." in said and "Slower: 0.6 miles per hour." in said
    assert "That's the slowest speed for this program: 0.6 miles per hour." in said


def test_a_chosen_speed_carries_over_when_the_script_says_so():
    steps = texts(run(WALK, "0:00 go", "2:00 faster"), STEP)
    assert steps[2].endswith("Set the treadmill to 1.4 miles per hour.")     # 1.2 + 0.2
    steps = texts(run(INTERVALS, "0:00 go", "2:30 faster"), STEP)           # carry_over: false
    assert steps[3].endswith("Set the treadmill to 1.6 miles per hour.")     # round 2 Brisk


def test_pause_freezes_the_program_and_cues_wait():
    plain = [e for e in run(WALK, "0:00 go") if e.type in (CUE, STEP)]
    paused = [e for e in run(WALK, "0:00 go", "2:00 pause", "3:00 go") if e.type in (CUE, STEP)]
    later_plain = [e for e in plain if e.t > 130]
    later_paused = [e for e in paused if e.t > 190]
    assert [e.text for e in later_plain] == [e.text for e in later_paused]
    for a, b in zip(later_plain, later_paused):
        assert b.t - a.t == pytest.approx(60, abs=2.5)     # shifted by the pause (± speech)
    # Nothing but the pause's own answer and reminders in the paused minute.
    assert not [e for e in paused if 120.5 < e.t < 180 and e.type in (CUE, STEP)]


def test_status_answers_with_the_real_numbers():
    said = texts(run(WALK, "0:00 go", "2:00 how long"))
    assert ("Step 2 of 4, Hands free. 2 minutes 30 seconds left in this step, 7 minutes "
            "in all. Speed 1 mile per hour.") in said


def test_next_skips_a_step_and_not_past_the_last():
    events = run(WALK, "0:00 go", "0:30 next", "7:00 skip")
    steps = [e for e in events if e.type == STEP]
    assert steps[1].extra["step_start"] == pytest.approx(30)
    assert "This is the last step. Say end session to finish now." in texts(events)
    assert [e for e in events if e.type == STATE][-1].t == pytest.approx(30 + 450)


def test_repeat_says_the_last_thing_again():
    said = texts(run(WALK, "0:00 go", "0:45 say again"))
    cue = ("Watch your feet if you need to, or the edge of the belt, or the floor just beyond "
           "it. Find your sweet spot.")
    assert said.count(cue) == 2


def test_not_understood_gets_a_tone_then_a_hint():
    events = run(WALK, "0:00 go", "0:30 banana", "0:40 potato")
    heard = [e for e in events if e.type == COMMAND and e.intent is None]
    assert [e.text for e in heard] == ["banana", "potato"]
    tones = [e for e in spoken(events) if e.extra.get("earcon") == "not_understood"]
    assert len(tones) == 2
    assert texts(events).count(
        "Sorry, I didn't catch that. Say help to hear what you can say.") == 1


def _heard_live(session, clock, at: float, text: str = "") -> None:
    """An attempt at a command the listener did not understand, heard at `at` (live path)."""
    clock.advance_to(at)
    session.advance(at)
    session.not_understood(text, "low confidence")


def test_an_attempt_not_understood_is_answered_only_when_likely_said_to_the_coach():
    from voicecoach.clock import VirtualClock
    from voicecoach.session import Session
    hint = "Sorry, I didn't catch that. Say help to hear what you can say."
    clock = VirtualClock()
    s = Session(WALK, clock)
    s.begin()
    s.command("go")

    def answers():
        return [e for e in s.events if e.type == COMMAND and e.intent is None]
    # Once, alone: a word overheard in a gym comes once. Nothing is said.
    _heard_live(s, clock, 20.0, "faster")
    # "yeah" twice while running: the clear command would only be told "nothing to confirm".
    _heard_live(s, clock, 30.0, "yeah")
    _heard_live(s, clock, 32.0, "yeah")
    _heard_live(s, clock, 60.0, "speed up")
    # Two near misses of different commands in a row: talk, more likely than a user.
    _heard_live(s, clock, 63.0, "help")
    assert answers() == []
    # The same command tried again within the retry window: the user is trying. A tone and
    # the hint.
    _heard_live(s, clock, 64.0, "what can i say")
    _heard_live(s, clock, 65.0, "help")
    assert [e.t for e in answers()] == [64.0]
    # ... and not a tone for every attempt: at most one answer in `answer_every`.
    assert len(answers()) == 1
    clock.advance_to(75.0)
    s.advance(75.0)
    assert texts(s.events).count(hint) == 1
    # The coach asked a question: the first attempt at an answer is answered.
    s.command("stop")
    _heard_live(s, clock, clock.now() + 5.0, "no")
    assert s.state == "confirming_end" and len(answers()) == 2


def test_pause_reminders_are_few_and_then_silence():
    events = run(WALK, "0:00 go", "0:30 pause")
    reminders = [e for e in spoken(events) if e.text.startswith("Still paused")]
    assert [round(e.t) for e in reminders] == [120, 210, 300]
    assert events[-1].t < 310          # the simulation ends: nothing else is scheduled


def test_a_korean_session_speaks_korean_and_obeys_korean_commands():
    events = run(KOREAN, "0:03 시작", "1:00 상태", "2:00 빠르게", "3:00 정지", "3:02 네")
    said = texts(events)
    assert said[0].startswith("트레드밀 뒤로 걷기. 3단계")
    assert "빠르게: 시속 1.9킬로미터." in said
    assert [e.text for e in events if e.type == STATE][-1] == "finished"


def test_speakable_texts_cover_everything_said_but_status():
    pre = set(speakable_texts(WALK))
    events = run(WALK, "0:00 go", "1:00 faster", "1:10 slower", "2:00 pause", "2:05 help",
                 "2:10 go", "3:00 stop", "3:03 no", "3:30 next", "4:00 what", "4:10 what",
                 "5:00 repeat", "6:00 stop", "6:05 yes", "6:30 go")
    # "faster" before step 3, whose announcement is the trainer's own: it still names the speed.
    events += run(WALK, "0:00 go", "1:00 faster", "2:00 faster", "3:00 faster")
    status_prefixes = ("Step ", "Paused in step", "Ready:", "Session ended after")
    missing = [t for t in texts(events) if t not in pre
               and not (t.startswith(status_prefixes) and "left" in t or t.startswith("Session ended"))]
    assert missing == []


def test_simulate_command_prints_a_timeline(capsys):
    assert main(["simulate", str(SCRIPTS / "backwards-walk.yaml"), "--say", "0:05 go",
                 "--say", "0:30 blah", "--until", "60"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["0:00.0", "state", "ready", "ready"]
    assert any(l.split()[:4] == ["0:05.0", "command", "ready", '"go"'] for l in lines)
    assert any('"blah" -> not understood' in l for l in lines)
    assert all(float(l.split()[0].split(":")[1]) < 60 for l in lines if l.startswith(" 0:"))


def test_simulate_json_lines_have_the_agreed_keys(capsys):
    assert main(["simulate", str(SCRIPTS / "backwards-intervals.yaml"), "--json",
                 "--say", "0:02 go", "--say", "1:00 hmm"]) == 0
    rows = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert all({"t", "type", "state", "intent", "text"} <= set(r) for r in rows)
    assert {"state", "step", "cue", "command", "response"} <= {r["type"] for r in rows}
    assert {"t": 60.0, "type": "command", "intent": None, "text": "hmm"}.items() <= \
        next(r for r in rows if r["type"] == "command" and r["intent"] is None).items()
    assert rows == sorted(rows, key=lambda r: r["t"])


@pytest.mark.parametrize("argv,status,message", [
    (["--say", "go"], 2, "expected a time and a phrase"),
    (["--say", "0:75 go"], 2, "seconds must be below 60"),
])
def test_simulate_bad_say_is_a_clear_error(capsys, argv, status, message):
    assert main(["simulate", str(SCRIPTS / "backwards-walk.yaml"), *argv]) == status
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_simulate_invalid_script_lists_problems(write_script, capsys):
    path = write_script("title: x\nsteps:\n  - {name: a, duration: 1m, sped: 1}\n")
    assert main(["simulate", str(path)]) == 1
    assert "unknown key 'sped'; did you mean 'speed'?" in capsys.readouterr().err
