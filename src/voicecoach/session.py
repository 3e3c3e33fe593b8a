"""A coaching session: the session machine (state_machines/session.yaml) as a model of the
program's position, its cue schedule, and the speech queue, all on one clock.

Nothing here waits or starts a thread. Whoever drives the session (the simulator on a virtual
clock, the live loop on the real one) calls `advance(now)` whenever the clock reaches
`next_deadline()` and `command()`/`hear()` when the listener decides something; the session
emits TimelineEvents as things happen.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .clock import Clock
from .events import (COMMAND, DROPPED, RESPONSE, STATE, STEP, CUE, TimelineEvent)
from .machine import MachineDefinition, attach, load_definition
from .phrases import PhraseBook
from .script import CueScript, PlannedStep
from .speech_queue import (Cut, Dropped, Priority, SpeechAction, SpeechQueue, Started, Utterance,
                           estimate_duration)

EPS = 1e-9


@dataclass(frozen=True)
class Progress:
    """Where a session is in its program: enough to continue it in a new run (the journal
    keeps it; `voicecoach resume` restores it)."""
    state: str
    step_index: int          # 0-based; -1 before the first step
    position: float          # seconds into that step
    worked: float            # seconds spent running, in all
    speed_offset: float      # the user's faster/slower, in the script's units
    step_offset: float       # the same, for this step only (when it does not carry over)

    def to_json(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


class Session:
    def __init__(self, script: CueScript, clock: Clock, *,
                 duration_of: Callable[[Utterance], float] = estimate_duration,
                 definition: MachineDefinition | None = None,
                 on_event: Callable[[TimelineEvent], None] | None = None,
                 on_speech: Callable[[SpeechAction], None] | None = None,
                 resume: Progress | None = None) -> None:
        self.script = script
        self.program = script.program()
        self.steps = self.program.steps
        self.clock = clock
        self.say = PhraseBook(script.language)
        self.vocabulary = script.vocabulary()
        self.definition = definition or load_definition()
        self.speech = SpeechQueue(duration_of, min_gap=script.cue_gap)
        self.events: list[TimelineEvent] = []
        self._on_event = on_event
        self._on_speech = on_speech       # the player: every start, cut and drop, as it happens

        # Where we are in the program. While running, position = _elapsed + (now - _since).
        self.step_index = -1
        self._elapsed = 0.0
        self._since: float | None = None
        self._cue_times: list[tuple[float, int]] = []
        self._next_cue = 0
        self.speed_offset = 0.0        # the user's faster/slower, in the script's units
        self._step_offset = 0.0        # the same, when it does not carry over
        self.worked = 0.0              # seconds spent running
        self._variant_turn: dict[int, int] = {}    # id of a script cue -> its next variant
        self._last_said: Utterance | None = None
        self._came_from = "ready"
        self._confirm_deadline: float | None = None
        self._reminder_at: float | None = None
        self._reminders_left = 0
        self._misheard = 0
        self._attempt_at: float | None = None    # the last attempt not understood
        self._attempt_of = ""                    # ... the intent it came near
        self._answered_at: float | None = None   # ... and the last one answered
        self._answering = False
        self._announced: int | None = None      # the step whose announcement was last heard
        self._previous_state = self.definition.initial
        self.state = self.definition.initial
        self.machine = attach(self, self.definition)
        self.outcome: str | None = None          # completed, ended_early, ... once finished
        self._last_trigger = ""
        self._interrupted = False
        self.resumed = resume
        if resume is not None:
            self._restore(resume)

    def _restore(self, p: Progress) -> None:
        """Continue where an earlier run stopped: at its step and position, halted, asking first.
        Cues due before that position were heard then; the step is announced again on "go"."""
        self.step_index = max(-1, min(p.step_index, len(self.steps) - 1))
        if self.step_index >= 0:
            step = self.steps[self.step_index]
            self._elapsed = min(max(0.0, p.position), step.duration)
            self._cue_times = step.cue_times()
            self._next_cue = sum(1 for t, _ in self._cue_times if t < self._elapsed - EPS)
        self.worked = p.worked
        self.speed_offset, self._step_offset = p.speed_offset, p.step_offset
        self.machine.set_state("offering_resume")
        self._previous_state = self.state

    # --- the outside world's calls ------------------------------------------------------------
    def begin(self) -> None:
        """Say hello and wait for "go"."""
        now = self.clock.now()
        self._emit(TimelineEvent(now, STATE, self.state, self.state, step=self._step_number(),
                                 extra={"progress": self.progress(now).to_json()}
                                 if self.resumed else {}))
        if self.resumed:
            self._queue(f"{self.resume_question()} {self.say('resume_how')}",
                        Priority.ANNOUNCEMENT, RESPONSE)
        else:
            self._queue(self.say("welcome", title=self.script.title, count=len(self.steps),
                                 total=self.say.duration(self.program.duration)),
                        Priority.ANNOUNCEMENT, RESPONSE)
        self._pump(now)

    def resume_question(self) -> str:
        """"Resume walking backwards at step 3 of 4, ..., 2 minutes left?"""
        step = self.steps[max(self.step_index, 0)]
        return self.say("resume_question", title=self.script.title, number=step.number,
                        count=len(self.steps), name=step.name,
                        total_left=self.say.duration(self.time_left()[1]))

    def interrupt(self) -> None:
        """The run is stopping (Ctrl-C): end now, as an interruption that can be resumed."""
        self._interrupted = True
        if self.state != "finished":
            now = self.clock.now()
            self.advance(now)
            self._emit(TimelineEvent(now, COMMAND, self.state, "(Ctrl-C)", intent="end",
                                     step=self._step_number(), extra={"confidence": 1.0}))
            self._fire("interrupted")
            self._pump(now)

    def progress(self, now: float | None = None) -> Progress:
        now = self.clock.now() if now is None else now
        worked = self.worked + (now - self._since if self.running else 0.0)
        return Progress(self.state, self.step_index, self.position(now), worked,
                        self.speed_offset, self._step_offset)

    def hear(self, text: str, confidence: float = 1.0) -> None:
        """An utterance as text (simulation, or an engine's transcript): a command or not."""
        intent = self.vocabulary.intent_for(text)
        if intent is None:
            self.not_understood(text, addressed=True)
        else:
            self.command(intent, text, confidence)

    def command(self, intent: str, phrase: str = "", confidence: float = 1.0) -> None:
        now = self.clock.now()
        self.advance(now)
        self._misheard = 0
        self._attempt_at = None
        self._answering = True
        self._emit(TimelineEvent(now, COMMAND, self.state, phrase or intent, intent=intent,
                                 step=self._step_number(), extra={"confidence": round(confidence, 3)}))
        before = self.state
        if not (self.definition.handles(before, intent) and self._fire(intent)):
            # Understood, but it changes nothing here: the warning tone and the reason.
            self.acknowledge(self.definition.responses[before][intent], "warning")
        if self.state == "confirming_end":
            # The question was (re)asked or talked about: the time to answer starts again.
            self._confirm_deadline = now + self._confirm_timeout
        self._pump(now)

    def not_understood(self, text: str, reason: str = "not in the vocabulary",
                       addressed: bool = False) -> None:
        """Heard something like a command but not understood. Answered only when it was likely
        said to the coach (`addressed`: typed or simulated; or the machine's `asking` and
        `retry_window`): a short tone; from the second attempt in a row, a spoken hint."""
        now = self.clock.now()
        self.advance(now)
        s = self.definition.settings
        # A retry: the same command tried again soon (the listener gives the phrase it came
        # near); two different near-misses in a row are talk more often than a user.
        tried = self.vocabulary.intent_for(text) or text
        retry = self._attempt_at is not None and now - self._attempt_at <= float(
            s["retry_window"]) and tried == self._attempt_of
        self._attempt_at, self._attempt_of = now, tried
        # A near miss of what would change nothing here ("yeah" while running) is not worth
        # an answer: the clear command would only have been told so.
        pointless = tried in self.vocabulary.phrases and not self.definition.handles(self.state, tried)
        if not addressed and (pointless or not (retry or self.state in s["asking"])) or (
                self._answered_at is not None and now - self._answered_at < float(s["answer_every"])):
            return
        self._answered_at = now
        self._emit(TimelineEvent(now, COMMAND, self.state, text, intent=None,
                                 step=self._step_number(), extra={"reason": reason}))
        self._misheard += 1
        self._answering = True
        self._queue("", Priority.ACK, RESPONSE, earcon="not_understood")
        if self._misheard == 2 or retry:
            self._queue(self.say("not_understood"), Priority.ACK, RESPONSE)
        self._pump(now)

    def device_lost(self, key: str) -> None:
        """A device went away (phrase `key`: microphone_lost, output_lost): pause if running,
        and say so (heard wherever the output still works)."""
        if self.state == "running":
            self.command("pause", f"({key.replace('_', ' ')})", 1.0)
        self._queue(self.say(key), Priority.ACK, RESPONSE)
        self._pump(self.clock.now())

    def advance(self, now: float) -> None:
        """Do everything that is due by `now`: cues, step changes, timeouts, speech."""
        for _ in range(10_000):          # bounded: each pass makes progress or stops
            if not self._advance_once(now):
                break
        self._pump(now)

    def next_deadline(self) -> float | None:
        """When `advance` next has something to do, or None when nothing is scheduled."""
        times = [self.speech.next_wakeup(), self._confirm_deadline, self._reminder_at]
        if self.running:
            step = self.steps[self.step_index]
            if self._next_cue < len(self._cue_times):
                times.append(self._at(self._cue_times[self._next_cue][0]))
            times.append(self._at(step.duration))
        times = [t for t in times if t is not None]
        return min(times) if times else None

    @property
    def _confirm_timeout(self) -> float:
        return float(self.definition.settings.get("confirm_timeout", 12))

    @property
    def running(self) -> bool:
        return self.state == "running" and self._since is not None

    @property
    def done(self) -> bool:
        return self.state == "finished" and self.speech.idle

    # --- program position ---------------------------------------------------------------------
    def position(self, now: float | None = None) -> float:
        """Seconds into the current step."""
        now = self.clock.now() if now is None else now
        return self._elapsed + (now - self._since if self._since is not None else 0.0)

    def _at(self, offset: float) -> float:
        """Clock time at which the current step reaches `offset` (while running)."""
        return self._since + (offset - self._elapsed)

    def time_left(self, now: float | None = None) -> tuple[float, float]:
        """(left in this step, left in the session), in seconds."""
        if self.step_index < 0:
            return 0.0, self.program.duration
        step_left = max(0.0, self.steps[self.step_index].duration - self.position(now))
        later = sum(s.duration for s in self.steps[self.step_index + 1:])
        return step_left, step_left + later

    def current_speed(self, step: PlannedStep | None = None) -> float:
        step = step or self.steps[max(self.step_index, 0)]
        p = self.script.progression
        offset = self.speed_offset if p.carry_over else self._step_offset
        return min(p.max_speed, max(p.min_speed, round(step.speed + offset, 3)))

    def _advance_once(self, now: float) -> bool:
        if self._confirm_deadline is not None and now >= self._confirm_deadline - EPS:
            self._confirm_deadline = None
            self._fire("confirm_timeout")
            return True
        if self._reminder_at is not None and now >= self._reminder_at - EPS:
            self._queue(self.say("pause_reminder"), Priority.ANNOUNCEMENT, RESPONSE)
            self._reminders_left -= 1
            every = float(self.definition.settings.get("pause_reminder_every", 90))
            self._reminder_at = self._reminder_at + every if self._reminders_left > 0 else None
            return True
        if not self.running:
            return False
        step = self.steps[self.step_index]
        pos = self.position(now)
        if self._next_cue < len(self._cue_times) and self._cue_times[self._next_cue][0] <= pos + EPS:
            offset, index = self._cue_times[self._next_cue]
            self._next_cue += 1
            self._speak_cue(step, index)
            return True
        if pos >= step.duration - EPS:
            overshoot = max(0.0, pos - step.duration)
            self.worked += step.duration - self._elapsed
            if self.step_index + 1 < len(self.steps):
                self._enter_step(self.step_index + 1, now - overshoot)
            else:
                self._elapsed, self._since = step.duration, None
                self._fire("program_done")
            return True
        return False

    def _enter_step(self, index: int, now: float) -> None:
        """Begin step `index` at clock time `now` and announce it."""
        self._pump_actions(self.speech.clear(now, Priority.CUE, "stale"), now)
        self.step_index = index
        self._elapsed, self._since = 0.0, now
        self._step_offset = 0.0
        step = self.steps[index]
        self._cue_times = step.cue_times()
        self._next_cue = 0
        self._queue(self.announcement(step), Priority.ANNOUNCEMENT, STEP,
                    extra={"step_start": now, "speed": self.current_speed()})

    def announcement(self, step: PlannedStep) -> str:
        """What is said when `step` begins: the round, the step, and the speed to set."""
        values = dict(number=step.number, count=len(self.steps), name=step.name,
                      speed=self.say.speed(self.current_speed(step), self.script.units),
                      incline=f"{step.incline:g}" if step.incline is not None else "",
                      announce=step.announce or "")
        key = "step_custom" if step.announce else "step_incline" if step.incline else "step"
        text = self.say(key, **values)
        if step.rounds and step.rounds > 1 and step.first_in_round:
            rnd = self.say("round_named" if step.block else "round", block=step.block,
                           round=step.round, rounds=step.rounds)
            text = f"{rnd} {text}"
        return text

    def _speak_cue(self, step: PlannedStep, index: int) -> None:
        cue = step.cues[index]
        # Rotate variants across the whole session (rounds share the cue), never one twice in a row.
        turn = self._variant_turn.get(id(cue), 0)
        self._variant_turn[id(cue)] = turn + 1
        text = cue.say[turn % len(cue.say)]
        extra = {"audio": str(self.script.folder / cue.audio)} if cue.audio else {}
        self._queue(text, Priority.CUE, CUE, stale_after=cue.stale_after, extra=extra)

    # --- machine callbacks (named in state_machines/session.yaml) -----------------------------
    def acknowledge(self, key: str | None, earcon: str | None = None) -> None:
        if earcon:
            self._queue("", Priority.ACK, RESPONSE, earcon=earcon)
        if key:
            self._queue(self.say(key, speed=self.say.speed(self.current_speed(), self.script.units)),
                        Priority.ACK, RESPONSE)

    def start_program(self, *_, **__) -> None:
        self._enter_step(0, self.clock.now())

    def hold_program(self, *_, **__) -> None:
        now = self.clock.now()
        if self._since is not None:
            self.worked += now - self._since
            self._elapsed, self._since = self.position(now), None
        # Nothing queued is said while halted; an unheard step announcement is repeated on resume.
        self._pump_actions(self.speech.clear(now, Priority.ANNOUNCEMENT, "cleared"), now)

    def resume_program(self, *_, **__) -> None:
        if self.step_index < 0:
            return self.start_program()
        self._since = self.clock.now()
        step = self.steps[self.step_index]
        if self._announced != step.number:
            self._queue(self.announcement(step), Priority.ANNOUNCEMENT, STEP,
                        extra={"step_start": self._since - self._elapsed,
                               "speed": self.current_speed()})

    def came_from_running(self, *_, **__) -> bool:
        return self._came_from == "running"

    def came_from_paused(self, *_, **__) -> bool:
        return self._came_from == "paused"

    def came_from_ready(self, *_, **__) -> bool:
        return self._came_from == "ready"

    def speed_up(self, *_, **__) -> None:
        self._change_speed(+1)

    def slow_down(self, *_, **__) -> None:
        self._change_speed(-1)

    def _change_speed(self, direction: int) -> None:
        p = self.script.progression
        before = self.current_speed()
        limit = p.max_speed if direction > 0 else p.min_speed
        if abs(before - limit) < 1e-6:
            self._queue(self.say("at_max" if direction > 0 else "at_min",
                                 speed=self.say.speed(limit, self.script.units)),
                        Priority.ACK, RESPONSE, earcon_first="warning")
            return
        target = min(p.max_speed, max(p.min_speed, before + direction * p.increment))
        delta = round(target - before, 3)
        self.speed_offset = round(self.speed_offset + delta, 3)
        self._step_offset = round(self._step_offset + delta, 3)
        self._queue(self.say("speed_up" if direction > 0 else "speed_down",
                             speed=self.say.speed(self.current_speed(), self.script.units)),
                    Priority.ACK, RESPONSE, extra={"speed": self.current_speed()})

    def skip_step(self, *_, **__) -> None:
        if self.step_index + 1 >= len(self.steps):
            self._queue(self.say("last_step"), Priority.ACK, RESPONSE)
            return
        now = self.clock.now()
        self.worked += now - self._since
        self._queue(self.say("skipping"), Priority.ACK, RESPONSE)
        self._enter_step(self.step_index + 1, now)

    def repeat_last(self, *_, **__) -> None:
        if self._last_said is None:
            self._queue(self.say("nothing_to_repeat"), Priority.ACK, RESPONSE)
        else:
            self._queue(self._last_said.text, Priority.ACK, RESPONSE)

    def say_status(self, *_, **__) -> None:
        self._queue(self.status_text(), Priority.ACK, RESPONSE)

    def status_text(self) -> str:
        step_left, total_left = self.time_left()
        if self.state == "ready":
            return self.say("status_ready", count=len(self.steps),
                            total=self.say.duration(self.program.duration))
        if self.state == "finished":
            return self.say("status_finished")
        if self.state == "confirming_end":
            return self.say("status_confirming")
        if self.state == "offering_resume":
            return self.say("status_offering")
        step = self.steps[self.step_index]
        values = dict(number=step.number, count=len(self.steps), name=step.name,
                      step_left=self.say.duration(step_left), total_left=self.say.duration(total_left),
                      speed=self.say.speed(self.current_speed(), self.script.units))
        return self.say("status_running" if self.state == "running" else "status_paused", **values)

    def say_help(self, *_, **__) -> None:
        self._queue(self.help_text(), Priority.ACK, RESPONSE)

    def help_text(self, state: str | None = None) -> str:
        intents = self.definition.available_intents(state or self.state)
        phrases = [self.vocabulary.phrases[i][0] for i in intents if self.vocabulary.phrases.get(i)]
        return self.say("help", phrases=self.say.listing(phrases))

    def end_early(self, *_, **__) -> None:
        self._finish(self._early_end())

    def _early_end(self) -> str:
        return "ended_early" if self.worked >= 1 else "ended_before_start"

    def end_completed(self, *_, **__) -> None:
        self._finish("completed")

    def decline_resume(self, *_, **__) -> None:
        self._queue(self.say("resume_declined"), Priority.ANNOUNCEMENT, RESPONSE)

    def _finish(self, key: str) -> None:
        now = self.clock.now()
        self._pump_actions(self.speech.clear(now, Priority.ANNOUNCEMENT, "cleared"), now)
        self._queue(self.say(key, total=self.say.duration(self.program.duration),
                             elapsed=self.say.duration(self.worked)),
                    Priority.ANNOUNCEMENT, RESPONSE, extra={"worked": round(self.worked, 3)})

    # --- firing triggers and emitting ---------------------------------------------------------
    def _fire(self, trigger: str) -> bool:
        self._last_trigger = trigger
        return self.trigger(trigger)          # added to the model by `transitions`

    def leaving_state(self, *_, **__) -> None:
        self._previous_state = self.state

    def entered_state(self, *_, **__) -> None:
        now, state = self.clock.now(), self.state
        if state == "confirming_end":
            self._came_from = self._previous_state
        extra = {}
        if state == "finished":
            # Known the moment it ends, so that the journal can never take it for unfinished.
            self.outcome = ("interrupted" if self._interrupted else
                            "declined" if self._previous_state == "offering_resume" else
                            "completed" if self._last_trigger == "program_done" else
                            self._early_end())
            extra = {"outcome": self.outcome}
        self._emit(TimelineEvent(now, STATE, state, state, step=self._step_number(), extra=extra))
        s = self.definition.settings
        self._confirm_deadline = now + self._confirm_timeout if state == "confirming_end" else None
        if state == "paused":
            self._reminders_left = int(s.get("pause_reminders", 3))
            self._reminder_at = now + float(s.get("pause_reminder_every", 90)) \
                if self._reminders_left > 0 else None
        else:
            self._reminder_at = None

    def _queue(self, text: str, priority: Priority, kind: str, *, earcon: str | None = None,
               earcon_first: str | None = None, stale_after: float | None = None,
               extra: dict | None = None) -> None:
        now = self.clock.now()
        if earcon_first:
            self._queue("", priority, kind, earcon=earcon_first)
        utt = Utterance(text, priority, kind, earcon=earcon, stale_after=stale_after,
                        step=self._step_number(), extra=extra or {})
        # The first thing said in answer to a command cuts whatever is playing: answers come at once.
        interrupt, self._answering = self._answering and priority == Priority.ACK, False
        self._pump_actions(self.speech.submit(utt, now, interrupt=interrupt), now)

    def _pump(self, now: float) -> None:
        self._pump_actions(self.speech.pump(now), now)

    def _pump_actions(self, actions: list[SpeechAction], now: float) -> None:
        for a in actions:
            if self._on_speech:
                self._on_speech(a)
            u = a.utterance
            if isinstance(a, Started):
                if not u.earcon:
                    self._last_said = u
                if u.kind == STEP:
                    self._announced = u.step
                self._emit(TimelineEvent(a.t, u.kind, self.state, u.text, step=u.step,
                                         extra={"utterance": u.id, "duration": round(a.duration, 3),
                                                "earcon": u.earcon, **u.extra}))
            elif isinstance(a, Cut):
                self._emit(TimelineEvent(a.t, DROPPED, self.state, u.text, step=u.step,
                                         extra={"utterance": u.id, "reason": "interrupted"}))
            elif isinstance(a, Dropped):
                self._emit(TimelineEvent(a.t, DROPPED, self.state, u.text, step=u.step,
                                         extra={"utterance": u.id, "reason": a.reason}))

    def _step_number(self) -> int | None:
        return self.steps[self.step_index].number if self.step_index >= 0 else None

    def _emit(self, event: TimelineEvent) -> None:
        self.events.append(event)
        if self._on_event:
            self._on_event(event)


# Announcements are rendered ahead at a step's target speed and this many increments either side.
AHEAD_INCREMENTS = 3
AHEAD_SECONDS = 15 * 60
AHEAD_STEPS = 30


def speakable_texts(script: CueScript) -> list[str]:
    """The texts a session of `script` is likely to say that are known before it starts, to
    render ahead: the cues and announcements of its first steps (at the speeds near each
    step's target), acknowledgements, help. The rest (status answers, which depend on the
    moment; a speed further off; the cues of later steps) is rendered when it is due. Its
    length is bounded, whatever the script."""
    from .clock import VirtualClock
    s = Session(script, VirtualClock())
    say, units, p = s.say, script.units, script.progression
    texts: list[str] = []
    # The steps of the first AHEAD_SECONDS (at least one, at most AHEAD_STEPS): a long
    # script's later cues are rendered when they come due (the disk cache keeps them), so
    # that start-up does not grow with the script.
    ahead, t = [], 0.0
    for step in s.steps:
        if ahead and (t >= AHEAD_SECONDS or len(ahead) >= AHEAD_STEPS):
            break
        ahead.append(step)
        t += step.duration
    # The speeds a step is likely at: its target moved by up to AHEAD_INCREMENTS increments.
    speeds_of = {}
    for step in ahead:
        near = {round(min(p.max_speed, max(p.min_speed, step.speed + k * p.increment)), 3)
                for k in range(-AHEAD_INCREMENTS, AHEAD_INCREMENTS + 1)}
        speeds_of[step.number] = sorted(near)
    speeds = {v for near in speeds_of.values() for v in near} | {p.min_speed, p.max_speed}
    texts.append(say("welcome", title=script.title, count=len(s.steps),
                     total=say.duration(s.program.duration)))
    for step in ahead:
        for cue in step.cues:
            texts.extend(cue.say)
        for v in speeds_of[step.number]:
            s.speed_offset = s._step_offset = v - step.speed
            texts.append(s.announcement(step))
    s.speed_offset = s._step_offset = 0.0
    for v in sorted(speeds):
        sp = say.speed(v, units)
        texts += [say(k, speed=sp) for k in ("speed_up", "speed_down", "at_max", "at_min", "resumed")]
    texts.append(say("completed", total=say.duration(s.program.duration)))
    for key in ("paused", "ask_end", "ask_end_again", "stay_paused", "stay_ready", "skipping",
                "last_step", "nothing_to_repeat", "status_confirming", "status_finished",
                "not_started", "already_running", "already_paused", "while_paused",
                "nothing_to_confirm", "answer_yes_no", "session_over", "pause_reminder",
                "not_understood", "ended_before_start", "microphone_lost", "output_lost",
                "answer_resume", "resume_declined", "status_offering"):
        texts.append(say(key))
    texts.append(say("status_ready", count=len(s.steps), total=say.duration(s.program.duration)))
    for state in s.definition.states:
        texts.append(s.help_text(state))
    return list(dict.fromkeys(texts))     # unique, in order


def format_time(t: float) -> str:
    """Seconds -> 'M:SS.s' for timelines."""
    m, sec = divmod(max(0.0, t), 60)
    return f"{int(m)}:{sec:04.1f}"

