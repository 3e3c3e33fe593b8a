"""The one decision policy: an engine's scores for an utterance -> a command, or why not.

Every engine gives a log-score for each phrase and for "none" (scoring.Scores). The best
phrase is taken when it stands at least `margin` above "none"; an intent that makes the belt
safer (stop, end, slower) needs `halt_relief` less, because a "stop" missed on a moving
belt leaves a person with no way to halt it, while a false one only pauses and asks. The margins were set by measurement on
speakers the listener never learnt from (docs/listening.md, tools/calibrate_whisper.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..vocabulary import Vocabulary
from .scoring import NEVER, Scores

# Reasons given in Rejected events.
NOT_A_COMMAND = "not a command"
NOTHING_RECOGNISED = "nothing recognised"
TOO_SHORT = "too short for a command"
TOO_LONG = "too long for a command"
LOW_CONFIDENCE = "low confidence"
IN_SPEECH = "inside longer speech"   # other speech just before or after it: not said to the coach
# The one reason that means "someone tried to say a command": answered with the not-understood
# tone. The others (noise, knocks, talk) are only logged.
ATTEMPT = LOW_CONFIDENCE

# Intents that stop or hold the session: never vetoed by a second opinion (learned.py) and
# taken on a little less evidence than others.
HALTING = frozenset({"stop", "pause", "end"})
# Intents that make the belt safer, taken on `halt_relief` less evidence: stop and end (which
# ask before ending), and slower (a missed one leaves a person at a speed too fast for them;
# a false one costs a tenth of a mile an hour). Not pause: its phrases are everyday words
# ("wait", "hold on"), and with the relief the soak hour took three false pauses from
# "three", "four" and "zero" (bench soak, docs/listening.md).
SAFER = frozenset({"stop", "end", "slower"})
# The confidence of a command said clearly: 9 nats past the threshold. An intent that changes
# nothing in the session's state ("yes" while running, "go" when already going) only gets a
# spoken answer, so it is taken on this much evidence and no less: most words overheard in a
# gym that come near a command come near these (bench soak, docs/listening.md).
CLEAR = 0.9999
NOTHING_HERE = "changes nothing here, not said clearly"
# Intents taken even inside other speech ("oh no, stop"): a missed halt on a moving belt is
# worse than a false one, which only holds the program and asks.
AT_ONCE = frozenset({"stop", "pause"})


@dataclass(frozen=True)
class Policy:
    margin: float = 0.0         # log-odds the best phrase needs over "none"
    halt_relief: float = 0.0    # ... minus this for an intent that makes the belt safer (SAFER)
    # A phrase needs this much less for each word after its first: a chance sound or a word overheard
    # matches one short word far more often than a sequence (every false command of the soak
    # hour was a one-word phrase), and Whisper's score of a sequence is the product of its
    # tokens', lower for a trainer's own "take a break" even when it is said clearly.
    phrase_relief: float = 0.0
    # Below margin by less than this: "low confidence" (something like a command was said);
    # further: "not a command".
    doubt: float = 3.0
    # Utterances shorter than min_seconds are clicks and knocks, not scored. Those shorter
    # than fragment_seconds are scored but need fragment_margin more: over steady noise the
    # end-pointer often catches only a word's loudest 60-110 ms, while the engine hears the
    # audio around it.
    min_seconds: float = 0.12
    fragment_seconds: float = 0.0
    fragment_margin: float = 0.0
    # At a pause inside the speech, before the end-pointer's hangover has closed it, a phrase
    # is taken when it stands this much further above "none" (None: never early). It saves
    # the hangover on clear commands; an unclear one still waits for the end of speech.
    early: float | None = None


# Per engine (the part of an engine's name before ":" or "+"). Whisper: the margin was first
# chosen on commands-train/negatives-train for at most 1 % false accepts there (-3;
# tools/calibrate_whisper.py). An hour of talk has a thousand words in it, so 1 % is ten
# false commands an hour: raised to -1 for one-word phrases by the soak hour (bench soak),
# which costs 3 % of the commands-train commands; the head fused in ("whisper+head") keeps
# it, its bias being set for it (docs/listening.md). The
# grammar engines give one hypothesis: "none" is -inf when it is a phrase, so margin 0 takes it.
POLICIES: dict[str, Policy] = {
    "whisper": Policy(margin=-1.0, halt_relief=1.0, phrase_relief=1.25, min_seconds=0.0,
                      fragment_seconds=0.12, fragment_margin=3.0, early=10.0),
    "pocketsphinx": Policy(),
    "vosk": Policy(),
}


def policy_for(engine_name: str) -> Policy:
    """The policy of an engine by its name: "whisper:tiny.en" -> "whisper"; one with a part
    that has no policy of its own ("pocketsphinx+learned", "whisper+head") -> the first."""
    family = engine_name.split(":")[0]
    return POLICIES.get(family) or POLICIES.get(family.split("+")[0], Policy())


@dataclass(frozen=True)
class Decision:
    intent: str | None
    phrase: str             # the phrase taken, or the engine's reading when rejected
    confidence: float       # 0..1; 0.5 is the policy's threshold
    reason: str | None      # why not, when intent is None


def decide_early(scores: Scores, vocabulary: Vocabulary, policy: Policy,
                 seconds: float) -> Decision | None:
    """The decision at a pause, if it is clear enough to take before the end of speech; None
    to wait. A phrase that begins a longer one ("slow" of "slow down") always waits."""
    if policy.early is None:
        return None
    phrase, _ = scores.best()
    if phrase is None or any(p != phrase and p.startswith(phrase + " ")
                             for p in vocabulary.all_phrases()):
        return None
    d = decide(scores, vocabulary, replace(policy, margin=policy.margin + policy.early), seconds)
    return d if d.intent is not None else None


def decide(scores: Scores, vocabulary: Vocabulary, policy: Policy,
           seconds: float | None = None) -> Decision:
    """`seconds`: how long the utterance's speech was (None: not known, no fragment margin)."""
    phrase, score = scores.best()
    if phrase is None:
        reason = NOT_A_COMMAND if scores.heard else NOTHING_RECOGNISED
        return Decision(None, scores.heard, 0.0, reason)
    intent = vocabulary.intent_for(phrase)
    if intent is None:      # the engine scored a phrase the vocabulary does not have
        return Decision(None, phrase, 0.0, NOT_A_COMMAND)
    needed = policy.margin - (policy.halt_relief if intent in SAFER else 0.0) \
        - policy.phrase_relief * (len(phrase.split()) - 1)
    fragment = seconds is not None and seconds < policy.fragment_seconds
    if fragment:
        needed += policy.fragment_margin
    margin = scores.margin()
    # Confidence: the engine's own where it has one, else how far past the threshold.
    confidence = scores.confidence if scores.confidence is not None \
        else 1.0 if margin == math.inf else 1 / (1 + math.exp(-(margin - needed)))
    if margin >= needed:
        return Decision(intent, phrase, confidence, None)
    # A fragment not taken is no attempt at a command worth answering (a knock, a cough).
    reason = TOO_SHORT if fragment else \
        LOW_CONFIDENCE if margin > needed - policy.doubt and score > NEVER else NOT_A_COMMAND
    # Low confidence keeps the phrase it came near: what the user may have tried to say.
    return Decision(None, phrase if reason == LOW_CONFIDENCE else scores.heard, confidence, reason)
