"""`voicecoach transcribe` and vocab files: results per file, clean errors for bad input."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf

from voicecoach.cli import main
from voicecoach.listen.vocabfile import VocabFileError, load_vocab_file

from listen_support import CLEAR_COMMANDS, SENTENCE, SPEECH_COMMANDS_VOCAB, load, silence, speech_data


def _wav(path, x, rate=16000):
    sf.write(str(path), x, rate, subtype="PCM_16")
    return path


def test_transcribe_json_one_line_per_file_bad_files_reported_and_status_nonzero(tmp_path, capsys):
    stop = speech_data(CLEAR_COMMANDS["stop"])
    # The same "yes" as 48 kHz stereo: any WAV rate and channel count is accepted.
    yes, _ = load(CLEAR_COMMANDS["yes"])
    padded = np.concatenate([silence(0.3), yes, silence(0.3)])
    t48 = np.arange(int(len(padded) * 3)) / 48000
    y48 = np.interp(t48, np.arange(len(padded)) / 16000, padded)
    yes48 = _wav(tmp_path / "yes48k.wav", np.stack([y48, y48], axis=1), 48000)
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is not a recording")
    missing = tmp_path / "missing.wav"
    sentence = speech_data(SENTENCE)

    status = main(["transcribe", "--json", "--vocab", str(SPEECH_COMMANDS_VOCAB),
                   str(stop), str(not_audio), str(yes48), str(missing), str(sentence)])
    out, err = capsys.readouterr()
    assert status != 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [l["file"] for l in lines] == [str(stop), str(yes48), str(sentence)]
    assert all(set(l) == {"file", "intent", "text", "confidence", "t_end", "t_decided"} for l in lines)
    assert [l["intent"] for l in lines] == ["stop", "yes", None]
    assert lines[0]["t_end"] < lines[0]["t_decided"]
    assert "notes.wav" in err and "not a readable audio file" in err
    assert "missing.wav: no such file" in err
    assert "Traceback" not in err


def test_transcribe_text_output_says_what_was_heard(capsys):
    stop = speech_data(CLEAR_COMMANDS["stop"])
    assert main(["transcribe", str(stop)]) == 0      # default English vocabulary: intent stop
    out = capsys.readouterr().out
    assert out.startswith(f"{stop}: stop (")


def test_transcribe_with_a_bad_vocab_file_is_a_clear_error(tmp_path, capsys):
    vocab = tmp_path / "vocab.yaml"
    vocab.write_text("commands:\n  go: [go\n")
    assert main(["transcribe", "--vocab", str(vocab), str(speech_data(CLEAR_COMMANDS["go"]))]) == 2
    err = capsys.readouterr().err
    assert re.search(r"vocab.yaml:\d+:\d+: not valid YAML", err) and "Traceback" not in err


def test_pocketsphinx_refuses_a_language_it_has_no_model_for(tmp_path, capsys):
    assert main(["transcribe", "--language", "ko", "--engine", "pocketsphinx",
                 str(speech_data(CLEAR_COMMANDS["go"]))]) == 2
    assert "only an English model" in capsys.readouterr().err


# --- vocab files ---------------------------------------------------------------------------

def _vocab(tmp_path, text):
    path = tmp_path / "v.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_vocab_file_gives_exactly_its_intents_with_free_names(tmp_path):
    v = load_vocab_file(_vocab(tmp_path, "commands:\n  lights_on: [lights on, Light ON!]\n"
                                          "  quiet: shush\n"))
    assert v.language == "en"
    assert v.phrases == {"lights_on": ("lights on", "light on"), "quiet": ("shush",)}
    assert load_vocab_file(SPEECH_COMMANDS_VOCAB).intent_for("Off") == "off"


def test_vocab_file_language_key(tmp_path):
    v = load_vocab_file(_vocab(tmp_path, "language: ko\ncommands:\n  stop: [정지]\n"))
    assert (v.language, v.intent_for("정지")) == ("ko", "stop")


@pytest.mark.parametrize("text, message", [
    ("- just\n- a list\n", "expected a mapping with a `commands:` section"),
    ("commands: {}\n", "`commands` must map each intent"),
    ("commands:\n  go: {a: 1}\n", "commands.go: expected a list of phrases"),
    ("commands:\n  1go: [go]\n", "intent '1go' is not a name"),
    ("commands:\n  go: [go]\n  start: [go]\n", "phrase 'go' is given to both"),
    ("commands:\n  go: ['!!!']\n", "has no words"),
    ("commands: [\n", "v.yaml:2:1: not valid YAML"),
    ("commands:\n  on: [on]\n  off: [off]\n", None),          # YAML 1.2: words, not booleans
    ("commands:\n  go: !!python/object/apply:os.system [ls]\n", "v.yaml:2:7: YAML tag"),
    ("language: 5\ncommands:\n  go: [go]\n", "`language` must be a language code"),
])
def test_vocab_file_errors_say_what_is_wrong_and_where(tmp_path, text, message):
    if message is None:
        assert load_vocab_file(_vocab(tmp_path, text)).intent_for("on") == "on"
        return
    with pytest.raises(VocabFileError) as e:
        load_vocab_file(_vocab(tmp_path, text))
    assert "v.yaml:" in str(e.value) and message in str(e.value)


def test_vocab_file_size_limit_and_missing_file(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("commands:\n  go: [go]\n# " + "x" * 1_000_001)
    with pytest.raises(VocabFileError, match="big.yaml:1:1: vocab file is 1.0 MB; the limit is 1 MB"):
        load_vocab_file(big)
    with pytest.raises(VocabFileError, match="nope.yaml:1:1: no such vocab file"):
        load_vocab_file(tmp_path / "nope.yaml")


def test_transcribe_results_do_not_depend_on_the_files_before(capsys):
    files = [str(speech_data(CLEAR_COMMANDS[w])) for w in ("left", "go", "no")]
    args = ["transcribe", "--json", "--vocab", str(SPEECH_COMMANDS_VOCAB)]
    assert main(args + files) == 0
    forward = {json.loads(l)["file"]: json.loads(l) for l in capsys.readouterr().out.splitlines()}
    assert main(args + files[::-1]) == 0
    backward = {json.loads(l)["file"]: json.loads(l) for l in capsys.readouterr().out.splitlines()}
    assert forward == backward
    assert [forward[f]["intent"] for f in files] == ["left", "go", "no"]


def test_vosk_without_a_model_for_the_language_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.delenv("VOICECOACH_VOSK_MODEL", raising=False)
    assert main(["transcribe", "--engine", "vosk", str(speech_data(CLEAR_COMMANDS["go"]))]) == 2
    err = capsys.readouterr().err
    assert "no Vosk model for language 'en'" in err and "voicecoach models install" in err
