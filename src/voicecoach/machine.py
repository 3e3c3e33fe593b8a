"""The session machine: its definition is data (state_machines/session.yaml), loaded into
`transitions` with a Session as the model. This module checks that the definition answers every
intent in every state, and turns its `say`/`earcon` entries into acknowledgement callbacks."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from transitions import Machine

from .errors import UserError
from .vocabulary import SESSION_INTENTS

DEFINITION_PATH = Path(__file__).resolve().parents[2] / "state_machines" / "session.yaml"
# Triggers the session fires itself, not the user.
INTERNAL_TRIGGERS = ("program_done", "confirm_timeout", "interrupted")
_OWN_KEYS = ("say", "earcon")


class MachineDefinitionError(UserError):
    pass


@dataclass(frozen=True)
class MachineDefinition:
    initial: str
    states: tuple[str, ...]
    transitions: tuple[dict[str, Any], ...]
    responses: dict[str, dict[str, str]]
    settings: dict[str, Any]

    def transitions_for(self, state: str, trigger: str) -> list[dict[str, Any]]:
        return [t for t in self.transitions
                if t["trigger"] == trigger and state in _sources(t)]

    def handles(self, state: str, intent: str) -> bool:
        return bool(self.transitions_for(state, intent))

    def available_intents(self, state: str) -> list[str]:
        """Intents that do something in `state` (for help), in the vocabulary's order."""
        return [i for i in SESSION_INTENTS if self.handles(state, i)]


def _sources(t: dict[str, Any]) -> list[str]:
    src = t["source"]
    return list(src) if isinstance(src, (list, tuple)) else [src]


@lru_cache(maxsize=4)
def load_definition(path: Path = DEFINITION_PATH) -> MachineDefinition:
    try:
        data = yaml.safe_load(Path(path).read_text("utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise MachineDefinitionError(f"{path}: cannot read the session machine: {e}") from None
    states = tuple(data["states"])
    transitions = tuple(dict(t) for t in data["transitions"])
    responses = {s: dict(r) for s, r in (data.get("responses") or {}).items()}
    settings = {k: v for k, v in data.items() if k not in ("initial", "states", "transitions", "responses")}
    definition = MachineDefinition(data["initial"], states, transitions, responses, settings)
    problems = completeness_problems(definition)
    if problems:
        raise MachineDefinitionError(f"{path}: " + "; ".join(problems))
    return definition


def completeness_problems(d: MachineDefinition) -> list[str]:
    """Every intent in every state must have a transition that always applies, or a response."""
    problems = []
    for t in d.transitions:
        for s in _sources(t) + ([t["dest"]] if t.get("dest") else []):
            if s not in d.states:
                problems.append(f"transition {t['trigger']!r} names unknown state {s!r}")
    for state in d.states:
        for intent in SESSION_INTENTS:
            ts = d.transitions_for(state, intent)
            unconditional = any(not t.get("conditions") and not t.get("unless") for t in ts)
            if not unconditional and intent not in d.responses.get(state, {}):
                problems.append(f"state {state!r} has no answer for {intent!r}")
            if ts and unconditional and intent in d.responses.get(state, {}):
                problems.append(f"state {state!r} has both a transition and a response for {intent!r}")
    return problems


def attach(model: Any, definition: MachineDefinition) -> Machine:
    """Build the `transitions` machine around `model` (which gains .state and .trigger()).

    A transition's `say`/`earcon` become a first `after` callback: model.acknowledge(say, earcon).
    The model's leaving_state() runs before any transition, entered_state() on entering a state
    (before the transition's `after` callbacks, so a state change precedes what is said about it).
    """
    specs = []
    for t in definition.transitions:
        spec = {k: v for k, v in t.items() if k not in _OWN_KEYS}
        if any(k in t for k in _OWN_KEYS):
            say, earcon = t.get("say"), t.get("earcon")
            ack = lambda *_, _s=say, _e=earcon, **__: model.acknowledge(_s, _e)
            after = spec.get("after") or []
            spec["after"] = [ack] + (list(after) if isinstance(after, list) else [after])
        specs.append(spec)
    states = [{"name": s, "on_enter": "entered_state"} for s in definition.states]
    return Machine(model=model, states=states, transitions=specs,
                   initial=definition.initial, auto_transitions=False,
                   before_state_change="leaving_state",
                   ignore_invalid_triggers=True, model_attribute="state")


# --- pictures of the machine, for trainers ----------------------------------------------------

# Intents answered the same way in every state: one note instead of a loop on each state.
EVERYWHERE = ("repeat", "status", "help")


def _edges(d: MachineDefinition) -> list[tuple[str, str, str]]:
    """(source, dest, label) with the intents that take that path. Where one intent goes to
    different states from one source, each label says when: [from ready], [otherwise]."""
    labels: dict[tuple[str, str], list[str]] = {}
    for source in d.states:
        for trigger in dict.fromkeys(t["trigger"] for t in d.transitions):
            if trigger in EVERYWHERE:
                continue
            ts = d.transitions_for(source, trigger)
            dests = {t.get("dest") or source for t in ts}
            for i, t in enumerate(ts):
                cond = t.get("conditions")
                if len(dests) == 1:
                    label = trigger
                elif cond:
                    label = f"{trigger} [{str(cond).replace('came_from_', 'from ')}]"
                else:
                    label = f"{trigger} [otherwise]"
                key = (source, t.get("dest") or source)
                if label not in labels.setdefault(key, []):
                    labels[key].append(label)
    return [(s, e, ", ".join(ls)) for (s, e), ls in labels.items()]


def to_mermaid(d: MachineDefinition) -> str:
    """The machine as a mermaid state diagram: every state, and which words move between them."""
    lines = ["stateDiagram-v2", f"    [*] --> {d.initial}",
             "    [*] --> offering_resume: voicecoach resume" if "offering_resume" in d.states else ""]
    lines += [f"    {s} --> {e}: {label}" for s, e, label in _edges(d)]
    if "finished" in d.states:
        lines.append("    finished --> [*]")
    lines.append(f"    note right of {d.initial}\n        {', '.join(EVERYWHERE)}: answered in every "
                 "state\n        program_done: the last step ends\n        confirm_timeout: no answer "
                 f"in {d.settings.get('confirm_timeout', 12)} s\n    end note")
    return "\n".join(line for line in lines if line) + "\n"


def to_dot(d: MachineDefinition) -> str:
    """The same for graphviz."""
    lines = ["digraph session {", '    rankdir=LR; node [shape=box, style=rounded, fontname="Helvetica"];',
             '    edge [fontname="Helvetica", fontsize=10];',
             '    start [shape=point]; start -> %s;' % d.initial]
    if "offering_resume" in d.states:
        lines.append('    resume [shape=point]; resume -> offering_resume [label="voicecoach resume"];')
    lines += [f'    {s} -> {e} [label="{label}"];' for s, e, label in _edges(d)]
    lines.append(f'    note [shape=note, label="{", ".join(EVERYWHERE)}: answered in every state"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
