"""Command vocabulary: which phrases mean which intent, per language.

The defaults live in vocabularies/<language>.yaml; a cue script's `commands:` section (or a
vocab file for `voicecoach transcribe`) adds phrases or replaces an intent's phrases.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Iterable, Mapping

import yaml

# The intents the session machine understands; a vocabulary may define others (for transcribe).
SESSION_INTENTS = ("go", "pause", "stop", "end", "faster", "slower", "next", "repeat",
                   "status", "help", "yes", "no")

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_NOT_WORD = re.compile(r"[^\w' ]+")


def normalize(text: str) -> str:
    """Lower case, one space between words, no punctuation but apostrophes ("Let's go!" -> "let's go")."""
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES).lower()
    text = _NOT_WORD.sub(" ", text)
    return " ".join(w.strip("'") for w in text.split() if w.strip("'"))


class VocabularyError(ValueError):
    pass


@dataclass(frozen=True)
class Vocabulary:
    language: str
    phrases: Mapping[str, tuple[str, ...]]   # intent -> normalised phrases
    wake_word: str | None = None             # every phrase begins with it (addressed())

    @classmethod
    def default(cls, language: str = "en") -> "Vocabulary":
        return cls(language, _load_default(language))

    @classmethod
    def from_mapping(cls, language: str, mapping: Mapping[str, Iterable[str]]) -> "Vocabulary":
        """A vocabulary of exactly these intents (no defaults)."""
        return cls(language, _checked({intent: tuple(ps) for intent, ps in mapping.items()}))

    def extended(self, additions: Mapping[str, Iterable[str]] = {},
                 replacements: Mapping[str, Iterable[str]] = {}) -> "Vocabulary":
        """This vocabulary with phrases added to some intents and others' phrases replaced."""
        merged = {i: list(ps) for i, ps in self.phrases.items()}
        for intent, ps in replacements.items():
            merged[intent] = list(ps)
        for intent, ps in additions.items():
            merged.setdefault(intent, []).extend(ps)
        return Vocabulary(self.language, _checked(merged), self.wake_word)

    def addressed(self, wake_word: str | None) -> "Vocabulary":
        """Wake-word mode: every phrase begins with `wake_word` ("coach faster"), so that in a
        noisy gym only speech said to the coach is taken. None or "": this vocabulary."""
        wake = normalize(wake_word or "")
        if not wake:
            return self
        if len(wake.split()) > 3:
            raise VocabularyError(f"wake word {wake_word!r}: at most three words")
        return Vocabulary(self.language, _checked(
            {i: [f"{wake} {p}" for p in ps] for i, ps in self.phrases.items()}), wake)

    @property
    def intents(self) -> tuple[str, ...]:
        return tuple(self.phrases)

    def all_phrases(self) -> list[str]:
        return [p for ps in self.phrases.values() for p in ps]

    def words(self) -> set[str]:
        return {w for p in self.all_phrases() for w in p.split()}

    def intent_for(self, text: str) -> str | None:
        """The intent whose phrase is exactly this text (after normalisation), else None."""
        return self._index().get(normalize(text))

    def _index(self) -> dict[str, str]:
        idx = self.__dict__.get("_idx")
        if idx is None:
            idx = {p: intent for intent, ps in self.phrases.items() for p in ps}
            object.__setattr__(self, "_idx", idx)
        return idx


def _checked(mapping: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """Normalise phrases, drop duplicates, and refuse a phrase claimed by two intents."""
    out: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for intent, phrases in mapping.items():
        kept: list[str] = []
        for raw in phrases:
            p = normalize(str(raw))
            if not p:
                raise VocabularyError(f"intent {intent!r}: phrase {raw!r} has no words")
            if p in owner and owner[p] != intent:
                raise VocabularyError(
                    f"phrase {p!r} is given to both {owner[p]!r} and {intent!r}")
            if p not in kept:
                kept.append(p)
                owner[p] = intent
        out[intent] = tuple(kept)
    return out


def available_languages() -> list[str]:
    return sorted(f.name.removesuffix(".yaml")
                  for f in resources.files("voicecoach.vocabularies").iterdir()
                  if f.name.endswith(".yaml"))


def _load_default(language: str) -> dict[str, tuple[str, ...]]:
    lang = language.split("-")[0].lower()
    if lang not in available_languages():
        raise VocabularyError(
            f"no default vocabulary for language {language!r} "
            f"(have: {', '.join(available_languages())}); give every phrase in `commands:`")
    text = resources.files("voicecoach.vocabularies").joinpath(f"{lang}.yaml").read_text("utf-8")
    return _checked(yaml.safe_load(text))
