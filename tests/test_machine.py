"""The session machine: declared as data, complete (every intent answered in every state), and
"stop" honoured wherever the session can be."""
from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import SCRIPTS
from voicecoach.clock import VirtualClock
from voicecoach.events import COMMAND, CUE, RESPONSE, STATE, STEP
from voicecoach.machine import (DEFINITION_PATH, completeness_problems,
                                load_definition)
from voicecoach.phrases import PhraseBook
from voicecoach.script import load_script
from voicecoach.session import Progress, Session
from voicecoach.vocabulary import SESSION_INTENTS

SCRIPT = load_script(SCRIPTS / "backwards-walk.yaml")
DEFINITION = load_definition()

# How to reach each state from a fresh session (intents said one second apart).
ROUTES = {
    "ready": [],
    "running": ["go"],
    "paused": ["go", "pause"],
    "confirming_end": ["go", "stop"],
    "finished": ["go", "end", "yes"],
    "offering_resume": None,           # where a resumed session begins
}
# An earlier run that stopped 40 s into step 2, 1 mph faster than planned.
EARLIER = Progress("running", 1, 40.0, 130.0, 0.1, 0.1)


class Driver:
    """A session on a virtual clock, told intents at chosen times."""

    def __init__(self, script=SCRIPT, resume: Progress | None = None):
        self.clock = VirtualClock()
        self.session = Session(script, self.clock, resume=resume)
        self.session.begin()

    def run_until(self, t: float) -> None:
        s = self.session
        while (d := s.next_deadline()) is not None and d <= t:
            self.clock.advance_to(d)
            s.advance(d)
        self.clock.advance_to(t)
        s.advance(t)

    def say(self, intent: str, at: float | None = None) -> list:
        at = self.clock.now() + 1 if at is None else at
        self.run_until(at)
        before = len(self.session.events)
        self.session.command(intent, intent)
        self.run_until(at + 0.3)        # an answer's speech follows its earcon (0.25 s)
        return self.session.events[before:]


def reach(state: str) -> Driver:
    if ROUTES[state] is None:
        return Driver(resume=EARLIER)
    d = Driver()
    for intent in ROUTES[state]:
        d.say(intent)
    assert d.session.state == state
    return d


def test_definition_is_data_and_complete():
    assert DEFINITION_PATH.name == "session.yaml" and DEFINITION_PATH.parent.name == "state_machines"
    assert set(DEFINITION.states) == {"ready", "running", "paused", "confirming_end", "finished",
                                      "offering_resume"}
    assert completeness_problems(DEFINITION) == []


def test_a_gap_in_the_definition_is_found():
    gappy = replace(DEFINITION, transitions=tuple(t for t in DEFINITION.transitions
                                                   if t["trigger"] != "pause"))
    problems = completeness_problems(gappy)
    assert "state 'running' has no answer for 'pause'" in problems


def test_every_phrase_the_machine_names_exists_in_every_language():
    keys = {t["say"] for t in DEFINITION.transitions if t.get("say")}
    keys |= {k for r in DEFINITION.responses.values() for k in r.values()}
    for language in ("en", "ko"):
        book = PhraseBook(language)
        assert keys <= book.keys(), (language, keys - book.keys())
        assert PhraseBook("en").keys() == book.keys()


@pytest.mark.parametrize("state", list(ROUTES))
@pytest.mark.parametrize("intent", SESSION_INTENTS)
def test_every_intent_in_every_state_gets_a_defined_answer(state, intent):
    d = reach(state)
    new = d.say(intent)
    assert new[0].type == COMMAND and new[0].intent == intent and new[0].state == state
    # Something is said or played at once: the answer never waits behind coaching.
    answers = [e for e in new if e.type == RESPONSE]
    assert answers and answers[0].t == new[0].t, new
    transitions = [t for t in DEFINITION.transitions
                   if t["trigger"] == intent and state in
                   (t["source"] if isinstance(t["source"], list) else [t["source"]])]
    if not transitions:
        key = DEFINITION.responses[state][intent]
        assert d.session.state == state
        spoken = [e.text for e in answers if e.text]
        assert spoken == [d.session.say(key)], spoken
    else:
        possible = {t["dest"] or state for t in transitions}
        assert d.session.state in possible
        if d.session.state != state:
            changes = [e for e in new if e.type == STATE]
            assert changes and changes[0].text == d.session.state
            # The state change comes before anything said about it.
            assert new.index(changes[0]) < new.index(answers[0])


def reachable_states() -> list[tuple[str, tuple[str, ...]]]:
    """Every state (with how confirming_end was reached) by breadth-first search over intents."""
    seen: dict[tuple, tuple[str, ...]] = {}
    frontier = [(), ("(resumed)",)]
    while frontier:
        path = frontier.pop(0)
        d = Driver(resume=EARLIER if path[:1] == ("(resumed)",) else None)
        for intent in path[1:] if path[:1] == ("(resumed)",) else path:
            d.say(intent)
        key = (d.session.state, d.session._came_from if d.session.state == "confirming_end" else "")
        if key in seen:
            continue
        seen[key] = path
        if len(path) < 4:
            frontier += [path + (i,) for i in SESSION_INTENTS]
    return [(k[0], p) for k, p in seen.items()]


REACHABLE = reachable_states()


def test_search_reaches_every_state():
    assert {s for s, _ in REACHABLE} == set(DEFINITION.states)
    # confirming_end is reached from ready, running and paused
    assert sum(1 for s, _ in REACHABLE if s == "confirming_end") == 3


@pytest.mark.parametrize("state,path", REACHABLE, ids=[f"{s}:{'-'.join(p) or 'start'}"
                                                         for s, p in REACHABLE])
def test_stop_is_honoured_in_every_reachable_state(state, path):
    resumed = path[:1] == ("(resumed)",)
    d = Driver(resume=EARLIER if resumed else None)
    for intent in path[1:] if resumed else path:
        d.say(intent)
    s = d.session
    position = s.position()
    new = d.say("stop")
    if state == "finished":
        assert s.state == "finished"
        assert [e.text for e in new if e.type == RESPONSE and e.text] == [s.say("session_over")]
        return
    if state == "offering_resume":
        # "Resume ...?" - "stop": this run ends without carrying on; nothing is asked twice.
        assert s.state == "finished" and s.outcome == "declined"
        d.run_until(d.clock.now() + 2)       # said after the closing tone
        said = [e.text for e in s.events[s.events.index(new[0]):] if e.type == RESPONSE and e.text]
        assert said == [s.say("resume_declined")]
        return
    assert s.state == "confirming_end"
    spoken = [e.text for e in new if e.type == RESPONSE and e.text]
    assert spoken[0] in (s.say("ask_end"), s.say("ask_end_again"))
    # Halted at once: the program does not move on, no cue or step comes while asking.
    d.run_until(d.clock.now() + 10)
    assert s.position() == pytest.approx(position, abs=1.01)
    assert not [e for e in s.events[-20:] if e.type in (CUE, STEP) and e.t > new[0].t]
    # "yes" ends it, from wherever it was.
    d.say("yes")
    assert s.state == "finished"


@pytest.mark.parametrize("origin,answer,expected", [
    ("running", "no", "running"), ("running", "go", "running"),
    ("paused", "no", "paused"), ("paused", "go", "running"),
    ("ready", "no", "ready"), ("ready", "go", "running"),
])
def test_no_or_go_after_stop_carries_on(origin, answer, expected):
    d = reach(origin)
    d.say("stop")
    d.say(answer)
    assert d.session.state == expected
    if expected == "running":
        assert d.session.step_index >= 0       # started, or resumed where it was


def test_no_answer_to_end_the_session_never_ends_the_workout():
    d = reach("running")
    d.say("stop")
    d.run_until(d.clock.now() + 60)
    assert d.session.state == "paused"
    assert d.session.say("stay_paused") in [e.text for e in d.session.events]


@pytest.mark.parametrize("origin", ["ready", "running", "paused"])
@pytest.mark.parametrize("answer,expected", [("yes", "finished"), ("end", "finished"),
                                             ("no", None)])
def test_end_session_is_asked_before_the_workout_ends(origin, answer, expected):
    # A word overheard in a gym ("I'm done") must not end a workout: it asks, as stop does.
    d = reach(origin)
    d.say("end")
    s = d.session
    assert s.state == "confirming_end" and s.outcome is None
    assert s.say("ask_end") in [e.text for e in s.events]
    d.say(answer)
    assert s.state == (expected or origin)


def test_ctrl_c_ends_at_once_from_every_state_as_an_interruption():
    for state in ROUTES:
        d = reach(state)
        if state == "finished":
            continue
        d.session.interrupt()
        assert d.session.state == "finished" and d.session.outcome == "interrupted"
