"""Read a vocabulary file: YAML with a `commands:` mapping (intent: list of phrases), the same
section a cue script has, and optionally `language:`. Other keys are ignored, so a cue script
itself is a valid vocab file. Read with the project's safe YAML reader (voicecoach.scriptfile):
size limit, UTF-8, no object-building tags, bounded aliases, every problem located."""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import UserError
from ..scriptfile import ProblemsError, read_yaml
from ..vocabulary import Vocabulary, VocabularyError

_INTENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class VocabFileError(UserError):
    pass


def load_vocab_file(path: str | Path, language: str = "en") -> Vocabulary:
    """Exactly the intents and phrases in the file's `commands:` (no defaults added)."""
    try:
        doc = read_yaml(path, what="vocab file")
    except ProblemsError as e:
        raise VocabFileError(str(e)) from None

    def fail(where: tuple, message: str, key: bool = False) -> VocabFileError:
        return VocabFileError(str(doc.problem(where, message, key)))

    if not isinstance(doc.value, dict) or "commands" not in doc.value:
        raise fail((), "expected a mapping with a `commands:` section (intent: [phrase, ...])")
    lang = doc.value.get("language", language)
    if not isinstance(lang, str) or not lang.strip():
        raise fail(("language",), "`language` must be a language code such as en or ko")
    commands = doc.value["commands"]
    if not isinstance(commands, dict) or not commands:
        raise fail(("commands",), "`commands` must map each intent to a list of phrases")
    mapping: dict[str, list[str]] = {}
    for intent, phrases in commands.items():
        if not _INTENT.match(intent):
            raise fail(("commands", intent), f"intent {intent!r} is not a name (letters, digits "
                                             "and _, not starting with a digit)", key=True)
        if isinstance(phrases, str):
            phrases = [phrases]
        if not isinstance(phrases, list) or not phrases or \
                not all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in phrases):
            raise fail(("commands", intent), f"commands.{intent}: expected a list of phrases")
        mapping[intent] = [str(p) for p in phrases]
    try:
        return Vocabulary.from_mapping(lang.strip(), mapping)
    except VocabularyError as e:
        raise fail(("commands",), f"commands: {e}") from None
