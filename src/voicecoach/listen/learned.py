"""A small learned command classifier on top of a pretrained speech embedding.

Google's `speech_embedding` (Apache-2.0, as re-implemented in ONNX by openWakeWord 0.5.1,
Apache-2.0) turns 16 kHz audio into a 96-dimensional vector every 80 ms, each computed from a
0.76 s log-mel window; it was trained by Google on a large amount of speech, which is what lets
a classifier trained on a few hundred recordings generalise to new speakers. On top of it sits
a small classifier (`command_model.npz`, trained by `tools/train_command_model.py` on the
Speech Commands dev recordings, CC-BY-4.0, Warden 2018): "which of the words it knows, or
none of them", from the last `window` seconds of audio before the listener's decision.

`LearnedEngine` plugs it into the listener as an engine (scoring.Engine):

* every phrase of the vocabulary is a word the model knows (the ten Speech Commands words):
  the classifier alone decides (no grammar decoder runs at all);
* some are, some are not (the default vocabulary: "go", "stop", ... but also "how long"):
  the grammar engine decodes as before with its competitor words, and the classifier judges
  only the phrases it knows: it vetoes a known phrase it did not hear, and puts one in where
  the grammar engine heard no command at all, if it is sure (ADD_MARGIN); it never swaps the
  engine's command for another. Phrases it does not know are left to the grammar engine.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..vocabulary import Vocabulary
from .head import NONE, Head
from .policy import HALTING
from .scoring import COMMAND_SECONDS, NEVER, Engine, Scores, Utterance, from_hypothesis

RATE = 16000
MEL_WINDOW = 76      # log-mel frames (10 ms) per embedding
MEL_STEP = 8         # frames between embeddings (80 ms)
TAIL_DB = 35.0       # end-pointer tail gate when the classifier knows every phrase
# The classifier never vetoes a halting intent where it only judges (policy.HALTING).
# Where the classifier only judges (a mixed vocabulary) and the grammar engine heard no
# command, it puts in a word it knows only if that word beats "none" by this much more than
# usual (log-score): the engine's own "no" counts against it.
ADD_MARGIN = 1.0


def _model_file(name: str) -> str:
    return str(resources.files("voicecoach.listen") / "models" / name)


class SpeechEmbedding:
    """16 kHz audio -> (n, 96) embeddings, one per 80 ms (ONNX, one thread)."""

    def __init__(self):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        self._mel = ort.InferenceSession(_model_file("melspectrogram.onnx"), options,
                                         providers=providers)
        self._emb = ort.InferenceSession(_model_file("embedding_model.onnx"), options,
                                         providers=providers)

    def __call__(self, pcm: np.ndarray) -> np.ndarray:
        """`pcm`: int16 samples (at least 0.8 s)."""
        x = pcm.astype(np.float32)[None]
        # The constants make the ONNX log-mel match what the embedding model was trained on.
        mel = np.squeeze(self._mel.run(None, {"input": x})[0]) / 10 + 2
        starts = range(0, mel.shape[0] - MEL_WINDOW + 1, MEL_STEP)
        batch = np.stack([mel[i:i + MEL_WINDOW] for i in starts])[..., None].astype(np.float32)
        return self._emb.run(None, {"input_1": batch})[0].reshape(len(batch), -1)


def pool(embeddings: np.ndarray) -> np.ndarray:
    """A fixed-size vector from the embeddings of a window: their mean and maximum."""
    return np.concatenate([embeddings.mean(0), embeddings.max(0)])


class CommandModel:
    """The classifier: pooled embeddings -> probability of each label (NONE first)."""

    def __init__(self, path: str | Path | None = None):
        self.head = Head(path or _model_file("command_model.npz"))
        self.labels = self.head.labels
        self.window = float(self.head.params["window"])          # seconds of audio looked at
        # Decision: log-probabilities, plus `engine_weight` for the word the grammar
        # engine heard, plus `none_bias` for "none"; the highest score wins.
        self.engine_weight = float(self.head.params["engine_weight"])
        self.none_bias = float(self.head.params["none_bias"])
        self.embedding = SpeechEmbedding()

    @property
    def words(self) -> set[str]:
        return self.head.words

    def window_samples(self) -> int:
        return round(self.window * RATE)

    def features(self, pcm: np.ndarray) -> np.ndarray:
        """The last `window` seconds of int16 audio (zeros in front if there is less)."""
        n = self.window_samples()
        if len(pcm) < n:
            pcm = np.concatenate([np.zeros(n - len(pcm), np.int16), pcm])
        return pool(self.embedding(pcm[-n:]))

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return self.head.probabilities(features)

    def decide(self, pcm: np.ndarray, engine_heard: str | None, allowed: set[str],
               none_bias: float | None = None) -> tuple[str, float]:
        """(label, probability) for the audio before now: the best label, the grammar
        engine's word (if any) weighing in; a word outside `allowed` is NONE (a word the
        model knows but the vocabulary lacks, such as "off", is no command)."""
        p = self.probabilities(self.features(pcm))
        score = np.log(p + 1e-9)
        score[0] += self.none_bias if none_bias is None else none_bias
        for i, label in enumerate(self.labels):
            if label == engine_heard and label != NONE:
                score[i] += self.engine_weight
        i = int(np.argmax(score))
        return (self.labels[i] if self.labels[i] in allowed else NONE), float(p[i])


@lru_cache(maxsize=1)
def default_model() -> CommandModel | None:
    """The model shipped in the package, loaded once per process; None if it cannot be."""
    try:
        return CommandModel()
    except (ImportError, OSError):
        return None


class LearnedEngine:
    """The command classifier as a listener engine, fused with a grammar decoder (see above)."""

    speculative = False          # the grammar decoder inside it streams
    max_utterance = COMMAND_SECONDS

    def __init__(self, vocabulary: Vocabulary, model: CommandModel, inner: Engine | None,
                 none_bias: float | None = None, add_margin: float | None = ADD_MARGIN):
        self.model = model
        self.none_bias = none_bias
        self.add_margin = add_margin     # None: never puts a word in (veto only)
        self.phrases = list(dict.fromkeys(vocabulary.all_phrases()))
        # Known phrases: one word the model has a label for.
        self.known = {p for p in self.phrases if p in model.words}
        self.never_vetoed = {p for p in self.known if vocabulary.intent_for(p) in HALTING}
        self.inner = inner
        self.name = f"{inner.name}+learned" if inner is not None else "learned"
        self.context_seconds = model.window     # the classifier's window reaches back
        # A tail gate in the end-pointer (FrontendSettings.tail_db) decides sooner; it cut
        # word endings for the grammar engines, so only when the classifier knows every phrase.
        everything_known = self.known == set(self.phrases)
        self.tail_db = TAIL_DB if everything_known else None
        # Every phrase known: the classifier decides (the grammar engine's word weighs in).
        # Otherwise it judges: a known word the engine heard is rejected when the classifier
        # finds it is no command at all, and a known word is put in where the engine heard
        # none; it never swaps one command for another there (on synthetic voices it was
        # confidently wrong, e.g. espeak-ng's "stop" as "up", where the engine was right).
        self.decides = everything_known
        self.last: tuple[str, float] | None = None   # the classifier's last answer

    def wait_ready(self) -> None:
        if self.inner is not None:
            self.inner.wait_ready()

    def begin(self) -> None:
        if self.inner is not None:
            self.inner.begin()

    def forget(self) -> None:
        if self.inner is not None:
            self.inner.forget()

    def accept(self, pcm16: bytes) -> None:
        if self.inner is not None:
            self.inner.accept(pcm16)

    def partial(self) -> str:
        return self.inner.partial() if self.inner is not None else ""

    def score(self, utterance: Utterance) -> Scores:
        inner = self.inner.score(utterance) if self.inner is not None else \
            Scores(dict.fromkeys(self.phrases, NEVER), 0.0)
        engine_phrase, _ = inner.best()
        audio = utterance.audio
        if engine_phrase is not None and engine_phrase not in self.known:
            return inner        # a phrase the classifier does not know: the engine decides
        heard = engine_phrase if engine_phrase in self.known else None
        none_bias = self.model.none_bias if self.none_bias is None else self.none_bias
        if not self.decides:
            if heard in self.never_vetoed:
                return inner
            if heard is None:
                # The engine heard no command: a known word, if the classifier is sure of it.
                if self.add_margin is None or not len(audio):
                    return inner
                none_bias += self.add_margin
        label, p = self.model.decide(audio, heard, self.known, none_bias)
        self.last = (label, p)
        if label == NONE:
            return Scores(dict.fromkeys(self.phrases, NEVER), 0.0, inner.heard)
        if not (self.decides or heard is None):
            return inner    # where the classifier only judges, it keeps the engine's command
        return from_hypothesis(self.phrases, label, p, True)
