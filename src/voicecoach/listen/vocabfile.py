"""Read a vocabulary file: YAML with a `commands:` mapping (intent: list of phrases), the same
section a cue script has, and optionally `language:`. Other keys are ignored, so a cue script
itself is a valid vocab file."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from ..errors import UserError
from ..vocabulary import Vocabulary, VocabularyError

MAX_BYTES = 1_000_000
_INTENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class VocabFileError(UserError):
    pass


def load_vocab_file(path: str | Path, language: str = "en") -> Vocabulary:
    """Exactly the intents and phrases in the file's `commands:` (no defaults added)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise VocabFileError(f"{path}: {size} bytes, larger than the 1 MB a vocab file may be")
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise VocabFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise VocabFileError(f"{path}: is a directory, not a vocab file") from None
    except UnicodeDecodeError:
        raise VocabFileError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise VocabFileError(f"{path}: cannot read ({e.strerror})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(e, "problem", None) or str(e)
        raise VocabFileError(f"{path}: not valid YAML{at}: {problem}") from None
    if not isinstance(doc, dict) or "commands" not in doc:
        raise VocabFileError(f"{path}: expected a mapping with a `commands:` section "
                             f"(intent: [phrase, ...])")
    lang = doc.get("language", language)
    if not isinstance(lang, str) or not lang.strip():
        raise VocabFileError(f"{path}: `language` must be a language code such as en or ko")
    commands = doc["commands"]
    if not isinstance(commands, dict) or not commands:
        raise VocabFileError(f"{path}: `commands` must map each intent to a list of phrases")
    mapping: dict[str, list[str]] = {}
    for intent, phrases in commands.items():
        if not isinstance(intent, str) or not _INTENT.match(intent):
            raise VocabFileError(f"{path}: commands: intent {intent!r} is not a name "
                                 f"(letters, digits and _, not starting with a digit)")
        if isinstance(phrases, str):
            phrases = [phrases]
        if not isinstance(phrases, list) or not phrases or \
                not all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in phrases):
            raise VocabFileError(f"{path}: commands.{intent}: expected a list of phrases")
        mapping[intent] = [str(p) for p in phrases]
    try:
        return Vocabulary.from_mapping(lang.strip(), mapping)
    except VocabularyError as e:
        raise VocabFileError(f"{path}: commands: {e}") from None
