"""Whisper as an utterance scorer: the log-likelihood of every phrase of the vocabulary.

Whisper (OpenAI, MIT; trained on 680,000 hours of speech) is run through CTranslate2 in its
int8 form, with no torch. It does not transcribe here: the closed set of phrases is scored by
teacher forcing. The utterance's log-mel is encoded once; then, from the prompt
`<|startoftranscript|>(<|lang|><|transcribe|>)<|notimestamps|>`, one decoder step gives the
first token's distribution. That scores every one-token spelling (" go", " Stop") outright and
prunes the longer ones (lower, sentence and upper case, with Whisper's leading space) to the
likeliest few; one batched call then forces each of those through all its tokens
(CTranslate2 returns the distribution at every forced place, so a prefix trie stepped depth by
depth would only add calls). A phrase's score is the log of the summed probability of its
spellings. "None" is the log of the probability of every first token that starts no phrase:
another word, the end of text, no speech.

Any phrase a tokenizer can spell works ("water break"): no pronunciation dictionary.

A head (head.py) trained on the encoder output (tools/calibrate_whisper.py `head`) knows the
ten Speech Commands words and "none". For tiny.en, the model it was trained on, it is fused in:
a phrase that is one of its words gains weight x (log p(word) - log p(none)) + bias, where
"none" also takes the words it knows that the vocabulary lacks ("off" is no command in the
default vocabulary). Phrases it does not know ("how long") keep Whisper's score.
"""
from __future__ import annotations

import functools
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..vocabulary import Vocabulary
from .head import Head
from .scoring import NEVER, RATE, EngineError, Scores, Utterance

# CTranslate2's OpenMP threads spin between calls by default, taking both cores from the audio
# and the session just when an answer is due (measured with `bench live`: the answer p50 826 ms
# with spinning, 375 ms without). Read by libgomp when ctranslate2 is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

N_FFT, HOP = 400, 160
# Audio context given to the encoder (seconds; the utterance at its start, zeros after).
# Whisper was trained on 30 s windows; shorter ones cost less and, measured on the dev clips
# (docs/listening.md), 6 s keeps the accuracy of longer ones.
CONTEXT_SECONDS = 6.0
PRUNE = 4.0              # follow spellings whose first token is within this of the best one
MAX_SPELLINGS = 6        # ... and at most this many (the batch is what costs)
# The decoder attends to the encoder's frames of the audio and this many more (20 ms each),
# not to the whole context: the rest encodes the zeros the audio is padded with, and each
# prompt of the batch pays for every frame it attends to. Measured clip by clip with the
# default vocabulary (docs/listening.md): the same decisions, and the decoder 3x cheaper with
# the pruning above.
DECODER_PAD_FRAMES = 25
HEAD_FILE = "whisper_head.npz"   # in listen/models/


@dataclass(frozen=True)
class WhisperSettings:
    context_seconds: float = CONTEXT_SECONDS
    threads: int = 2
    compute_type: str = "int8"


# --- log-mel, as Whisper computes it (80 or 128 bins, Slaney mel scale) ---------------------

def _mel_filters(n_mels: int) -> np.ndarray:
    def hz_to_mel(f):
        f = np.asarray(f, float)
        return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0),
                        f / (200.0 / 3))

    def mel_to_hz(m):
        m = np.asarray(m, float)
        return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))

    fft_hz = np.linspace(0, RATE / 2, N_FFT // 2 + 1)
    hz = mel_to_hz(np.linspace(hz_to_mel(0), hz_to_mel(RATE / 2), n_mels + 2))
    ramps = hz[:, None] - fft_hz[None, :]
    fdiff = np.diff(hz)
    w = np.maximum(0, np.minimum(-ramps[:-2] / fdiff[:-1, None], ramps[2:] / fdiff[1:, None]))
    return (w * (2.0 / (hz[2:] - hz[:-2]))[:, None]).astype(np.float32)


class LogMel:
    def __init__(self, n_mels: int):
        self._filters = _mel_filters(n_mels)
        self._window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)

    def __call__(self, x: np.ndarray, frames: int) -> np.ndarray:
        """float samples -> (n_mels, frames), the audio zero-padded (or cut) to `frames` hops."""
        n = frames * HOP
        audible = min(len(x), n)
        x = np.concatenate([x[:n], np.zeros(max(0, n - len(x)), np.float32)])
        padded = np.pad(x, (N_FFT // 2, N_FFT // 2), mode="reflect")
        # Frames past the audio see only the zeros it is padded with: no FFT needed for them
        # (a command fills a fifth of the context).
        sounding = min(frames, (audible + N_FFT // 2) // HOP + 2)
        index = np.arange(N_FFT)[None, :] + HOP * np.arange(sounding)[:, None]
        power = np.zeros((frames, N_FFT // 2 + 1), np.float64)
        power[:sounding] = np.abs(np.fft.rfft(padded[index] * self._window, axis=1)) ** 2
        log = np.log10(np.maximum(self._filters @ power.T, 1e-10))
        log = np.maximum(log, log.max() - 8.0)
        return ((log + 4.0) / 4.0).astype(np.float32)


# --- the model, loaded once per process ---------------------------------------------------

class WhisperModel:
    """A CTranslate2 Whisper model and its tokenizer (loading takes a few tenths of a second)."""

    def __init__(self, path: Path, settings: WhisperSettings = WhisperSettings()):
        import ctranslate2
        import tokenizers
        from ..models import verify_whisper_model, whisper_model_language
        verify_whisper_model(path)
        t0 = time.perf_counter()
        try:
            self.model = ctranslate2.models.Whisper(
                str(path), device="cpu", compute_type=settings.compute_type,
                intra_threads=settings.threads, inter_threads=1)
            self.tokenizer = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
        except (RuntimeError, ValueError, OSError) as e:
            raise EngineError(f"{path}: could not load the Whisper model ({e})") from None
        self.load_seconds = time.perf_counter() - t0
        self.path = path
        self.name = model_name(path)
        self.multilingual = whisper_model_language(path) != "en"
        self.mel = LogMel(self.model.n_mels)
        token = self.tokenizer.token_to_id
        self.sot, self.eot = token("<|startoftranscript|>"), token("<|endoftext|>")
        self.no_timestamps = token("<|notimestamps|>")
        self.transcribe = token("<|transcribe|>")

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def prompt(self, language: str) -> list[int]:
        if not self.multilingual:
            return [self.sot, self.no_timestamps]
        lang = self.tokenizer.token_to_id(f"<|{language}|>")
        if lang is None:
            raise EngineError(f"the Whisper model {self.name} has no language {language!r}")
        return [self.sot, lang, self.transcribe, self.no_timestamps]


def model_name(path: Path) -> str:
    """What to call a model folder: the bundled one is tiny.en."""
    from ..models import bundled_whisper_model
    bundled = bundled_whisper_model()
    return "tiny.en" if bundled is not None and Path(path).resolve() == bundled.resolve() \
        else Path(path).name


_MODELS: dict[tuple[str, WhisperSettings], WhisperModel] = {}
_MODELS_LOCK = threading.Lock()


def load_model(path: Path, settings: WhisperSettings = WhisperSettings()) -> WhisperModel:
    key = (str(Path(path).resolve()), settings)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = WhisperModel(Path(path), settings)
        return _MODELS[key]


# --- spellings of the phrases ----------------------------------------------------------

def spellings(phrase: str, wake_word: str | None = None) -> set[str]:
    """How Whisper may write a normalised phrase: lower, sentence and upper case; after a
    wake word, also with the comma it writes there ("Coach, faster")."""
    words = ["I" if w == "i" or w.startswith("i'") else w for w in phrase.split()]
    lower = " ".join(words)
    sentence = lower[:1].upper() + lower[1:]
    out = {" " + s for s in (lower, sentence, phrase.upper())}
    if wake_word and phrase.startswith(wake_word + " "):
        n = len(wake_word)
        out |= {s[:n + 1] + "," + s[n + 1:] for s in out}
    return out


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    m = logits.max(axis=-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))


def _logsumexp(values) -> float:
    values = [v for v in values if v > NEVER]
    if not values:
        return NEVER
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


@functools.lru_cache(maxsize=1)
def default_head() -> Head | None:
    """The head shipped in the package, read once per process (None if it is not there:
    Whisper listens alone)."""
    from importlib import resources
    try:
        return Head(str(resources.files("voicecoach.listen") / "models" / HEAD_FILE))
    except (OSError, ValueError, KeyError):
        return None


@dataclass(frozen=True)
class Fusion:
    """How a head's judgement is added to Whisper's phrase scores (see the module docstring)."""
    head: Head
    weight: float
    bias: float

    @classmethod
    def for_model(cls, model_path: Path, head: Head | None) -> "Fusion | None":
        """The head's fusion if it was trained on this model's weights (their pinned or
        recorded sha256; model.bin itself is checked when loaded), else None."""
        from ..models import ModelError, whisper_model_digest
        try:
            digest = whisper_model_digest(model_path)
        except ModelError:
            return None       # not a model folder: loading it will say so
        if head is None or digest is None or head.params.get("model_sha256") != digest:
            return None
        return cls(head, float(head.params["weight"]), float(head.params["bias"]))

    def apply(self, phrases: dict[str, float], head_logp: np.ndarray) -> dict[str, float]:
        return fuse(phrases, head_logp, self.head.labels, self.weight, self.bias)


def fuse(phrases: dict[str, float], head_logp: np.ndarray, labels, weight: float,
         bias: float) -> dict[str, float]:
    """Phrase scores with a head's log-probabilities of its `labels` (none first) fused in."""
    absent = [i for i, w in enumerate(labels) if i and w not in phrases]
    none = float(np.logaddexp.reduce(head_logp[[0] + absent]))
    index = {w: i for i, w in enumerate(labels)}
    return {p: s + weight * (float(head_logp[index[p]]) - none) + bias
            if p in index and p and s > NEVER else s for p, s in phrases.items()}


def pooled(encoded: np.ndarray, samples: int) -> np.ndarray:
    """The encoder's view of `samples` of audio at the start of its context (one frame per
    20 ms): the mean and the maximum over those frames."""
    frames = encoded[0, :max(1, min(encoded.shape[1], int(math.ceil(samples / (2 * HOP)))))]
    return np.concatenate([frames.mean(0), frames.max(0)])


class WhisperEngine:
    """The Whisper scorer as a listener engine (see scoring.Engine)."""

    speculative = True
    # Audio from before the detected start, beyond the end-pointer's 0.25 s pre-roll: over
    # steady noise the start is found late (the onset is under the noise), and Whisper does
    # better hearing all of it. Measured on the dev speakers, ten words: bike at 10 dB 0.793 ->
    # 0.820 with false accepts 4.2 -> 3.4 %; quiet 0.960 -> 0.953 (docs/listening.md).
    context_seconds = 0.25
    # No tail gate: at 35 dB below the peak it cut a real speaker's "stop" to its first 150 ms
    # over the PulseAudio device chain (the closure before the "p"), and Whisper rejected it.
    # Without it the dev figures are the same and p95 latency is 50-70 ms longer (docs).
    tail_db = None
    # Over steady noise the end-pointer merges a command with the noise around it into one
    # long stretch; Whisper finds the word in it (its context holds 6 s). Measured on the dev
    # speakers over the bike at 10 dB, 4 s instead of 2.5 s (docs/listening.md).
    max_utterance = 4.0

    def __init__(self, vocabulary: Vocabulary, model_path: Path,
                 settings: WhisperSettings = WhisperSettings(), head: Head | None | str = "default"):
        """`head`: a head to fuse in where it fits the model, None for Whisper alone."""
        self.vocabulary = vocabulary
        self.settings = settings
        self.phrases = list(dict.fromkeys(vocabulary.all_phrases()))
        self.language = vocabulary.language.split("-")[0].lower()
        self._path = Path(model_path)
        self.fusion = Fusion.for_model(self._path, default_head() if head == "default" else head)
        self.name = f"whisper{'+head' if self.fusion else ''}:{model_name(self._path)}"
        self._error: EngineError | None = None
        self._ready = threading.Event()
        self._model: WhisperModel | None = None
        # Loaded off the critical path: the coach renders its cues meanwhile.
        threading.Thread(target=self._load, name="whisper-load", daemon=True).start()

    def _load(self) -> None:
        try:
            model = load_model(self._path, self.settings)
            self._prompt = model.prompt(self.language)
            # Every spelling of every phrase as tokens: (phrase, tokens).
            self._spelled = [(p, model.encode(text)) for p in self.phrases
                             for text in sorted(spellings(p, self.vocabulary.wake_word))]
            self._first = sorted({tokens[0] for _, tokens in self._spelled})
            self._wake = self._wake_spellings(model)
            self._model = model
        except EngineError as e:
            self._error = e
        except Exception as e:   # ctranslate2 raises bare RuntimeErrors for broken files
            self._error = EngineError(f"{self._path}: could not load the Whisper model ({e})")
        finally:
            self._ready.set()

    def _wake_spellings(self, model: WhisperModel) -> list[tuple[list[int], list[tuple[str, list[int]]]]]:
        """Wake-word mode: each spelling of the wake word as tokens, with the spellings of the
        phrases that begin with it. Every phrase shares the wake word's first token, so the
        phrases are told apart, and pruned, at the token after it (read())."""
        wake = self.vocabulary.wake_word
        if not wake:
            return []
        groups: dict[tuple[int, ...], list[tuple[str, list[int]]]] = {}
        heads = sorted({text[:len(wake) + 2].rstrip() for p in self.phrases
                        for text in spellings(p, wake)}, key=len, reverse=True)
        encoded_heads = [model.encode(head) for head in heads]     # longest first
        for (p, tokens) in self._spelled:
            for w in encoded_heads:
                if tokens[:len(w)] == w and len(tokens) > len(w):
                    groups.setdefault(tuple(w), []).append((p, tokens))
                    break
        return [(list(w), members) for w, members in groups.items()]

    def wait_ready(self) -> WhisperModel:
        """The loaded model; raises EngineError if it could not be loaded."""
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self._model is not None
        return self._model

    @property
    def load_seconds(self) -> float:
        return self.wait_ready().load_seconds

    # Nothing to do while speech goes on: the listener keeps the audio.
    def begin(self) -> None:
        pass

    def accept(self, pcm16: bytes) -> None:
        pass

    def partial(self) -> str:
        return ""

    def forget(self) -> None:
        pass

    def encoder_output(self, audio: np.ndarray):
        import ctranslate2
        model = self.wait_ready()
        frames = int(round(self.settings.context_seconds * RATE / HOP))
        x = audio.astype(np.float32) / 32768.0 if audio.dtype == np.int16 else audio
        mel = model.mel(x, frames)
        return model.model.encode(ctranslate2.StorageView.from_array(mel[None]), to_cpu=True)

    def score(self, utterance: Utterance) -> Scores:
        return self.read(utterance.audio).scores(self.phrases, self._first, self.fusion)

    def first_tokens(self, phrases) -> list[int]:
        """The tokens any spelling of these phrases starts with."""
        phrases = set(phrases)
        return sorted({tokens[0] for p, tokens in self._spelled if p in phrases})

    def _decode(self, encoded: np.ndarray, prompts: list[list[int]], positions: int) -> np.ndarray:
        """Teacher forcing: log-probabilities of the token at each of the first `positions`
        places after the common prompt, for each prompt (one batched decoder call; CTranslate2
        returns the distribution at every forced place of a prompt as well)."""
        import ctranslate2
        model = self.wait_ready().model
        base = len(self._prompt)
        batch = np.repeat(encoded, len(prompts), axis=0) if len(prompts) > 1 else encoded
        results = model.generate(ctranslate2.StorageView.from_array(batch), prompts,
                                 max_length=max(map(len, prompts)) + 2, beam_size=1,
                                 return_logits_vocab=True, suppress_blank=False,
                                 suppress_tokens=[])
        vocab_size = np.asarray(results[0].logits[0][0]).size
        out = np.full((len(prompts), positions, vocab_size), NEVER, np.float32)
        for i, (r, prompt) in enumerate(zip(results, prompts)):
            steps = r.logits[0][:min(positions, len(prompt) - base + 1)]
            if steps:
                out[i, :len(steps)] = _log_softmax(np.stack([np.asarray(l, np.float32).ravel()
                                                             for l in steps]))
        return out

    def read(self, audio: np.ndarray, encoded: np.ndarray | None = None) -> "Reading":
        """What the decoder makes of the audio: one call for the first token (which scores
        the one-token spellings), then one batched call for the likeliest longer spellings
        (first token within PRUNE of the best, at most MAX_SPELLINGS of them), each
        teacher-forced to its end. `encoded`: the audio's encoder output, if the caller has it."""
        if encoded is None:
            encoded = np.array(self.encoder_output(audio))
        head = None
        if self.fusion is not None:
            head = self.fusion.head.log_probabilities(pooled(encoded, len(audio)))
        heard = min(encoded.shape[1], int(math.ceil(len(audio) / (2 * HOP))) + DECODER_PAD_FRAMES)
        encoded = np.ascontiguousarray(encoded[:, :heard])
        first = self._decode(encoded, [self._prompt], 1)[0, 0]
        top = float(first[self._first].max())
        if self._wake:
            return self._read_after_wake(encoded, first, top, head)
        spelled = [(p, float(first[tokens[0]])) for p, tokens in self._spelled if len(tokens) == 1]
        longer = sorted((item for item in self._spelled
                         if len(item[1]) > 1 and first[item[1][0]] >= top - PRUNE),
                        key=lambda item: -first[item[1][0]])[:MAX_SPELLINGS]
        return Reading(first, spelled + self._forced(encoded, longer), head)

    def _forced(self, encoded: np.ndarray, items: list[tuple[str, list[int]]]) -> list[tuple[str, float]]:
        """(phrase, log p of all its tokens) for each spelling, in one batched call. Each
        prompt holds all the spelling's tokens (measured: CTranslate2 then returns the
        distribution at each of their places; with the last one left out, it may not)."""
        if not items:
            return []
        logp = self._decode(encoded, [self._prompt + tokens for _, tokens in items],
                            max(len(tokens) for _, tokens in items))
        return [(p, float(sum(lp[j, t] for j, t in enumerate(tokens))))
                for (p, tokens), lp in zip(items, logp)]


    def _read_after_wake(self, encoded: np.ndarray, first: np.ndarray, top: float,
                         head: np.ndarray | None) -> "Reading":
        """Wake-word mode: one call forces the likeliest spellings of the wake word and gives
        the distribution after each; the phrases are pruned by their token there, and one more
        call forces the chosen ones to their ends. "None" takes, besides the first tokens that
        start no phrase, the wake word followed by a token that starts no phrase's rest
        ("coach, I'm tired")."""
        groups = sorted((g for g in self._wake if first[g[0][0]] >= top - PRUNE),
                        key=lambda g: -first[g[0][0]])[:MAX_SPELLINGS]
        none_after: list[float] = []
        ranked: list[tuple[float, str, list[int]]] = []
        if groups:
            logp = self._decode(encoded, [self._prompt + w for w, _ in groups],
                                max(len(w) for w, _ in groups) + 1)
            for (w, members), lp in zip(groups, logp):
                wake_lp = float(sum(lp[j, t] for j, t in enumerate(w)))
                after = lp[len(w)]
                rests = sorted({tokens[len(w)] for _, tokens in members})
                none_after.append(wake_lp + float(np.logaddexp.reduce(np.delete(after, rests))))
                ranked += [(wake_lp + float(after[tokens[len(w)]]), p, tokens)
                           for p, tokens in members]
        ranked.sort(key=lambda r: -r[0])
        chosen = [r for r in ranked if r[0] >= ranked[0][0] - PRUNE][:MAX_SPELLINGS] if ranked else []
        spelled = self._forced(encoded, [(p, tokens) for _, p, tokens in chosen])
        return Reading(first, spelled, head, none_after)


@dataclass(frozen=True)
class Reading:
    """The decoder's view of one utterance, before any scores: the first token's
    log-probabilities, (phrase, log p of its tokens) for each spelling followed, and the head's
    log-probabilities of its labels (None: no head)."""
    first: np.ndarray
    spelled: list[tuple[str, float]]
    head: np.ndarray | None = None
    none_after: list[float] = ()     # wake-word mode: the wake word, then no phrase's rest

    def none(self, first_tokens: list[int]) -> float:
        """"None": the first token starts no phrase (spellings start with `first_tokens`)."""
        return float(np.logaddexp.reduce([*np.delete(self.first, first_tokens),
                                          *self.none_after]))

    def phrase_scores(self, phrases: list[str]) -> dict[str, float]:
        """Each phrase: the log of the summed probability of its spellings followed."""
        per_phrase: dict[str, list[float]] = {p: [] for p in phrases}
        for p, logp in self.spelled:
            if p in per_phrase:
                per_phrase[p].append(logp)
        return {p: _logsumexp(v) for p, v in per_phrase.items()}

    def scores(self, phrases: list[str], first_tokens: list[int],
               fusion: Fusion | None = None) -> Scores:
        scores = self.phrase_scores(phrases)
        if fusion is not None and self.head is not None:
            scores = fusion.apply(scores, self.head)
        return as_scores(scores, self.none(first_tokens))


def as_scores(phrases: dict[str, float], none: float) -> Scores:
    best = max(phrases, key=phrases.__getitem__)
    return Scores(phrases, none, best if phrases[best] > none else "")
