"""The interface between the listener and its engines: an utterance in, scores out.

The listener owns the audio: it finds utterances (frontend.py), keeps the one buffer of
16 kHz audio (context before the speech, pre-roll, the speech itself) and hands it over as an
`Utterance`. An engine answers with `Scores`: a log-score for every phrase of the vocabulary and
one for "none" (speech that is no phrase, noise, silence), on one scale, so that one decision
policy (policy.py) decides for every engine.

Two kinds of engine fit it:
* utterance scorers (Whisper): nothing happens while speech goes on; `score` looks at the whole
  utterance. They say `speculative = True`, and the listener scores ahead at pauses, so that the
  answer is ready when the end-pointer closes the utterance.
* streaming decoders (PocketSphinx, Vosk): they decode the frames as they come (`accept`) and
  `score` turns their final hypothesis into scores.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol

import numpy as np

from ..errors import UserError

RATE = 16000
NEVER = -math.inf    # the score of a phrase an engine did not hear at all
COMMAND_SECONDS = 2.5   # commands are short: longer speech is conversation (an engine's default)


class EngineError(UserError):
    pass


@dataclass(frozen=True)
class Utterance:
    """The audio of one utterance, as int16 samples at 16 kHz."""
    audio: np.ndarray       # context + pre-roll + speech (+ the end-pointer's hangover)
    speech_start: int       # sample index in `audio` where the pre-roll starts (after context)

    @property
    def speech(self) -> np.ndarray:
        return self.audio[self.speech_start:]

    @property
    def seconds(self) -> float:
        return len(self.audio) / RATE


@dataclass(frozen=True)
class Scores:
    """An engine's judgement of one utterance: log-scores, higher is likelier."""
    phrases: Mapping[str, float]    # every phrase the engine was given (NEVER: not heard)
    none: float                     # no phrase at all
    heard: str = ""                 # the engine's own reading, for messages and logs
    confidence: float | None = None     # the engine's own 0..1 for its best phrase, if any

    def best(self) -> tuple[str | None, float]:
        """The highest-scoring phrase and its score (None if no phrase was heard at all)."""
        if not self.phrases:
            return None, NEVER
        phrase = max(self.phrases, key=self.phrases.__getitem__)
        score = self.phrases[phrase]
        return (phrase, score) if score > NEVER else (None, NEVER)

    def margin(self) -> float:
        """How far the best phrase stands above "none" (log-odds; +inf: the engine is sure)."""
        _, score = self.best()
        if score == NEVER:
            return NEVER
        return score - self.none if self.none > NEVER else math.inf


def from_hypothesis(phrases: Iterable[str], text: str, confidence: float, in_grammar: bool,
                    min_confidence: float = 0.0) -> Scores:
    """Scores from a decoder that gives one hypothesis and a confidence: the phrase it heard
    scores log(confidence); "none" scores log(min_confidence), or wins outright when the
    decoder's garbage alternative won."""
    phrases = list(phrases)
    scores = dict.fromkeys(phrases, NEVER)
    if in_grammar and text in scores:
        scores[text] = math.log(min(max(confidence, 1e-9), 1.0))
        none = math.log(min_confidence) if min_confidence > 0 else NEVER
    else:
        none = 0.0
    return Scores(scores, none, text, confidence if in_grammar else None)


class Engine(Protocol):
    """What the listener needs of an engine (see the module docstring)."""
    name: str
    speculative: bool        # worth scoring ahead at pauses (pure function of the audio)
    context_seconds: float   # audio wanted from before the speech (beyond the pre-roll)
    tail_db: float | None    # the end-pointer's tail gate this engine wants (None: off)
    max_utterance: float     # seconds of speech past which an utterance is no command

    def wait_ready(self) -> None: ...            # block until the model is loaded
    def begin(self) -> None: ...                 # an utterance starts
    def accept(self, pcm16: bytes) -> None: ...  # its audio, as it comes (streaming decoders)
    def partial(self) -> str: ...                # the running hypothesis ("" if none)
    def score(self, utterance: Utterance) -> Scores: ...   # the utterance is over
    def forget(self) -> None: ...                # a new recording: drop adaptation
