"""The streaming grammar decoders, PocketSphinx and Vosk, as listener engines (scoring.Engine).

They decode the utterance's frames as they come, constrained to the vocabulary's phrases (and
garbage alternatives), and at the end turn their one hypothesis into scores (see
scoring.from_hypothesis). The engines are chosen in registry.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..vocabulary import Vocabulary
from .grammar import EVERYDAY_WORDS, competitor_words, jsgf_for, missing_words
from .scoring import COMMAND_SECONDS, EngineError, Scores, Utterance, from_hypothesis


class _GrammarDecoder:
    """What both grammar decoders share: they stream, and want no more audio than the pre-roll."""
    speculative = False
    context_seconds = 0.0
    tail_db = None              # a tail gate cut soft word endings for them (docs/listening.md)
    max_utterance = COMMAND_SECONDS
    min_confidence = 0.0
    _phrases: set[str]

    def wait_ready(self) -> None:
        pass    # loaded in the constructor

    def score(self, utterance: Utterance) -> Scores:
        text, confidence, in_grammar = self.end()
        return from_hypothesis(self._phrases, text, confidence, in_grammar, self.min_confidence)

    def end(self) -> tuple[str, float, bool]:
        """(text heard, confidence, whether it is a phrase rather than a garbage word)."""
        raise NotImplementedError


# --- PocketSphinx -------------------------------------------------------------------------

@dataclass(frozen=True)
class PocketSphinxSettings:
    # Common English words (ranked by the bundled language model) that compete with the
    # commands in the grammar, besides the counting words (grammar.COUNTING_WORDS): speech
    # that is not a command is usually closer to one of them than to any command.
    # 0 = plain command grammar, no counting words either (accepts almost anything, see docs).
    competitors: int = 70
    # Competitors must differ from every command word by at least this many phones
    # (1 = only exact homophones are left out; 2 also drops "of" for "off", "in" for "on").
    competitor_distance: int = 2
    # PocketSphinx's own spectral noise subtraction (off by default in pocketsphinx 5).
    remove_noise: bool = False


class PocketSphinxEngine(_GrammarDecoder):
    name = "pocketsphinx"
    # The lattice posterior did not separate commands from other words on the dev data (see
    # docs/listening.md); rejection comes from the competitor words instead: min_confidence 0.

    def __init__(self, vocabulary: Vocabulary, settings: PocketSphinxSettings = PocketSphinxSettings()):
        from pocketsphinx import Decoder, get_model_path
        if vocabulary.language.split("-")[0].lower() != "en":
            raise EngineError(
                f"the pocketsphinx engine has only an English model; for language "
                f"{vocabulary.language!r} use --engine vosk with a Vosk model for it")
        model = Path(get_model_path()) / "en-us"
        self._decoder = Decoder(hmm=str(model / "en-us"), dict=str(model / "cmudict-en-us.dict"),
                                lm=None, loglevel="FATAL",
                                remove_noise=settings.remove_noise)
        missing = missing_words(vocabulary, self._decoder.lookup_word)
        if missing:
            raise EngineError(
                "not in the English pronunciation dictionary: " + ", ".join(sorted(missing))
                + " (use other words for these commands)")
        self._phrases = set(vocabulary.all_phrases())
        competitors = competitor_words(vocabulary, self._decoder.lookup_word, settings.competitors,
                                       settings.competitor_distance) if settings.competitors else []
        self._decoder.add_jsgf_string("commands", jsgf_for(vocabulary, competitors))
        self._decoder.activate_search("commands")
        self._started = False

    def begin(self) -> None:
        if self._started:
            self._decoder.end_utt()
        self._decoder.start_utt()
        self._started = True

    def forget(self) -> None:
        # The cepstral mean adapts from utterance to utterance (good for one microphone);
        # separate recordings must not colour each other.
        self._decoder.reinit_feat()

    def accept(self, pcm16: bytes) -> None:
        self._decoder.process_raw(pcm16, False, False)

    def partial(self) -> str:
        h = self._decoder.hyp()
        return _clean_sphinx(h.hypstr) if h else ""

    def end(self) -> tuple[str, float, bool]:
        if self._started:
            self._decoder.end_utt()
        self._started = False
        h = self._decoder.hyp()
        text = _clean_sphinx(h.hypstr) if h else ""
        return text, float(h.prob) if h else 0.0, text in self._phrases


def _clean_sphinx(hypstr: str) -> str:
    # Alternative pronunciations come back as "word(2)"; fillers as <sil>, [noise].
    words = [w.split("(")[0] for w in hypstr.split() if not w.startswith(("<", "[", "+"))]
    return " ".join(words)


# --- Vosk -------------------------------------------------------------------------------

class VoskEngine(_GrammarDecoder):
    name = "vosk"

    def __init__(self, vocabulary: Vocabulary, model_dir: str | Path, min_confidence: float = 0.8):
        import vosk
        vosk.SetLogLevel(-2)   # Kaldi warnings would reach the user's terminal
        self.min_confidence = min_confidence
        self._model = load_vosk_model(model_dir)
        self._phrases = set(vocabulary.all_phrases())
        missing = {w for w in vocabulary.words() if self._model.vosk_model_find_word(w) < 0}
        if missing:
            raise EngineError(
                f"not in the vocabulary of the Vosk model {model_dir}: "
                + ", ".join(sorted(missing)) + " (use other words for these commands)")
        # "[unk]" is the garbage alternative: anything that is not a phrase goes there. Some
        # models (the Korean one) have none; then the word confidence does the rejecting.
        # Everyday words of the language compete with the commands too (see grammar.py); only
        # words of two syllables or more: single syllables fit any fragment of speech.
        garbage = ["[unk]"] if self._model.vosk_model_find_word("[unk]") >= 0 else []
        lang = vocabulary.language.split("-")[0].lower()
        taken = vocabulary.words()
        garbage += [w for w in EVERYDAY_WORDS.get(lang, ())
                    if w not in taken and len(w) >= 2 and self._model.vosk_model_find_word(w) >= 0]
        self._grammar = json.dumps(sorted(self._phrases) + garbage, ensure_ascii=False)
        self._vosk = vosk
        self._early: list[dict] = []
        self.begin()

    def begin(self) -> None:
        # A fresh recogniser per utterance (0.2 ms): after Reset() the online feature
        # adaptation still carries the previous utterance, and words recognised alone were
        # missed inside a stream.
        self._rec = self._vosk.KaldiRecognizer(self._model, 16000, self._grammar)
        self._rec.SetWords(True)
        self._early = []

    def forget(self) -> None:
        pass   # every utterance already gets a fresh recogniser

    def accept(self, pcm16: bytes) -> None:
        # Vosk's own end-pointer may close a segment early; the listener ends utterances, so
        # a result produced mid-utterance is kept and joined at the end.
        if self._rec.AcceptWaveform(pcm16):
            self._early.append(json.loads(self._rec.Result()))

    def partial(self) -> str:
        return json.loads(self._rec.PartialResult()).get("partial", "")

    def end(self) -> tuple[str, float, bool]:
        results = self._early + [json.loads(self._rec.FinalResult())]
        self._early = []
        words = [w for r in results for w in r.get("result", [])]
        text = " ".join(r.get("text", "") for r in results).split()
        in_grammar = bool(text) and "[unk]" not in text and " ".join(text) in self._phrases
        conf = min((w.get("conf", 0.0) for w in words), default=0.0)
        return " ".join(text), float(conf), in_grammar


_VOSK_MODELS: dict[str, object] = {}


def load_vosk_model(model_dir: str | Path):
    """A Vosk model, loaded once per process (it is large)."""
    import vosk
    from ..models import check_model_dir
    path = check_model_dir(Path(model_dir))
    key = str(path.resolve())
    if key not in _VOSK_MODELS:
        vosk.SetLogLevel(-2)
        try:
            _VOSK_MODELS[key] = vosk.Model(key)
        except Exception as e:   # vosk raises a bare Exception
            raise EngineError(f"{path}: could not load the Vosk model ({e})") from None
    return _VOSK_MODELS[key]
