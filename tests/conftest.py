"""Shared test setup. Tests never touch the user's real cache or data folders."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
SPEECH_DATA = REPO.parent / "shared" / "data" / "speech"

_scratch = Path(tempfile.mkdtemp(prefix="voicecoach-tests-"))
os.environ.setdefault("VOICECOACH_CACHE_DIR", str(_scratch / "cache"))
os.environ.setdefault("VOICECOACH_DATA_DIR", str(_scratch / "data"))


@pytest.fixture
def write_script(tmp_path):
    """Write YAML text (or bytes) to a script file in a fresh folder and return its path."""
    def write(content: str | bytes, name: str = "script.yaml") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path
    return write
