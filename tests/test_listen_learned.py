"""The learned command classifier in the listener, on real recordings (shared data: Google
Speech Commands v0.02, CC-BY-4.0, Warden 2018; cards sentences from Debian
pocketsphinx-testdata)."""
from __future__ import annotations

import numpy as np
import pytest
from listen_support import (
    commands,
    listen,
    BIKE,
    CLEAR_COMMANDS,
    SENTENCE,
    SPEECH_COMMANDS_VOCAB,
    load,
    silence,
)

from voicecoach.events import Command, Rejected
from voicecoach.listen.engines import PocketSphinxEngine
from voicecoach.listen.registry import make_engine
from voicecoach.listen.learned import LearnedEngine, default_model
from voicecoach.listen.listener import Listener
from voicecoach.listen.vocabfile import load_vocab_file
from voicecoach.vocabulary import Vocabulary


@pytest.fixture(scope="module")
def vocabulary():
    return load_vocab_file(SPEECH_COMMANDS_VOCAB)


def test_the_model_ships_with_the_package_and_knows_the_ten_words():
    model = default_model()
    assert model is not None
    assert model.words == {"stop", "go", "up", "down", "yes", "no", "on", "off", "left", "right"}


def test_a_vocabulary_of_known_words_gets_the_classifier(vocabulary):
    recognizer = make_engine(vocabulary, "pocketsphinx")
    assert isinstance(recognizer, LearnedEngine)
    assert recognizer.known == set(vocabulary.all_phrases())
    assert make_engine(vocabulary, "pocketsphinx", learned=False).name == "pocketsphinx"


@pytest.mark.parametrize("intent", sorted(CLEAR_COMMANDS))
def test_a_clearly_spoken_command_is_recognised(vocabulary, intent):
    clip, _ = load(CLEAR_COMMANDS[intent])
    x = np.concatenate([silence(1.0), clip, silence(0.5)])
    [command] = commands(listen(vocabulary, make_engine(vocabulary, "pocketsphinx"), x))
    assert command.intent == intent and command.phrase == intent
    # Decided once the end-pointer's hangover has passed, not long after.
    assert command.t_end < command.t_decided < command.t_end + 0.3


def test_a_command_in_exercise_bike_noise_is_recognised(vocabulary):
    clip, _ = load(CLEAR_COMMANDS["stop"])
    bike, _ = load(BIKE)
    x = np.concatenate([silence(2.0), clip, silence(0.5)])
    speech = np.sqrt(np.mean(clip[np.abs(clip) > 0.01 * np.abs(clip).max()] ** 2))
    x = x + bike[:len(x)] / np.sqrt(np.mean(bike ** 2)) * speech / 10 ** (10 / 20)   # 10 dB SNR
    assert [c.intent for c in commands(listen(vocabulary, make_engine(vocabulary, "pocketsphinx"), x))] == ["stop"]


def test_a_sentence_is_rejected(vocabulary):
    sentence, rate = load(SENTENCE)
    events = listen(vocabulary, make_engine(vocabulary, "pocketsphinx"),
                    np.concatenate([silence(0.5, rate), sentence, silence(0.5, rate)]), rate)
    assert commands(events) == []
    assert any(isinstance(e, Rejected) for e in events)


@pytest.mark.parametrize("word", ["dog", "bed", "tree", "house"])
def test_other_words_are_rejected(vocabulary, word):
    from listen_support import SPEECH_DATA, speech_data
    speech_data("negatives-dev/manifest.csv")
    clip = min((SPEECH_DATA / "negatives-dev" / word).glob("*.wav"))
    x, _ = load(str(clip.relative_to(SPEECH_DATA)))
    events = listen(vocabulary, make_engine(vocabulary, "pocketsphinx"),
                    np.concatenate([silence(1.0), x, silence(0.5)]))
    assert commands(events) == []


def test_noise_alone_gives_no_command(vocabulary):
    bike, _ = load(BIKE)
    assert commands(listen(vocabulary, make_engine(vocabulary, "pocketsphinx"), bike[:16000 * 20] * 0.5)) == []


def test_phrases_the_model_does_not_know_are_left_to_the_grammar_engine():
    # The default vocabulary mixes words the model knows ("stop", "go", ...) with phrases it
    # does not ("how long", "faster"): the grammar engine decodes, the classifier judges only
    # its own words.
    vocabulary = Vocabulary.default("en")
    recognizer = make_engine(vocabulary, "pocketsphinx")
    assert isinstance(recognizer, LearnedEngine)
    assert isinstance(recognizer.inner, PocketSphinxEngine)
    assert {"stop", "go", "yes", "no", "up", "down"} <= recognizer.known
    assert "how long" not in recognizer.known and "faster" not in recognizer.known
    clip, _ = load(CLEAR_COMMANDS["stop"])
    events = listen(vocabulary, recognizer, np.concatenate([silence(1.0), clip, silence(0.5)]))
    assert [c.intent for c in commands(events)] == ["stop"]


def spoken_alone(clip: str):
    """The default vocabulary, the clip's word, and the clip with quiet around it."""
    x, _ = load(f"commands-dev/{clip}")
    return (Vocabulary.default("en"), clip.split("/")[0],
            np.concatenate([silence(1.0), x, silence(0.5)]))


@pytest.mark.parametrize("clip", ["go/37dca74f_nohash_0.wav", "down/5828dfa2_nohash_0.wav"])
def test_a_known_word_the_grammar_engine_missed_is_put_in_by_the_classifier(clip):
    # In the default vocabulary PocketSphinx decodes among competitor words, and these real
    # speakers' "go" and "down" come out as none of the commands; the classifier is sure.
    vocabulary, word, x = spoken_alone(clip)
    assert commands(listen(vocabulary, make_engine(vocabulary, "pocketsphinx", learned=False), x)) == []
    veto_only = LearnedEngine(vocabulary, default_model(), PocketSphinxEngine(vocabulary),
                                  add_margin=None)
    assert commands(listen(vocabulary, veto_only, x)) == []
    [command] = commands(listen(vocabulary, make_engine(vocabulary, "pocketsphinx"), x))
    assert (command.intent, command.phrase) == (vocabulary.intent_for(word), word)
    assert command.t_end < command.t_decided < command.t_end + 0.3


@pytest.mark.parametrize("clip", ["off/b1f8326d_nohash_0.wav", "left/b7e9f841_nohash_0.wav"])
def test_a_word_the_model_knows_but_the_vocabulary_lacks_is_no_command(clip):
    # "off" and "left" are not in the default vocabulary, and PocketSphinx hears these as "up"
    # (faster). The classifier knows both words: its best answer is the word itself, which
    # is no command here, rather than the nearest word the vocabulary has.
    vocabulary, word, x = spoken_alone(clip)
    heard = [c.intent for c in commands(listen(vocabulary, make_engine(vocabulary, "pocketsphinx", learned=False), x))]
    assert heard == ["faster"]
    recognizer = make_engine(vocabulary, "pocketsphinx")
    assert commands(listen(vocabulary, recognizer, x)) == []
    model = recognizer.model
    p = model.probabilities(model.features((x[:-8000] * 32767).astype(np.int16)))
    assert model.labels[int(np.argmax(p))] == word
    assert recognizer.last[0] == ""


def test_vocabularies_without_known_words_are_unchanged():
    vocabulary = Vocabulary.from_mapping("en", {"faster": ["faster"], "status": ["how long"]})
    assert make_engine(vocabulary, "pocketsphinx").name == "pocketsphinx"
    assert make_engine(Vocabulary.default("ko"), engine=None).name != "pocketsphinx+learned"


def test_stop_is_never_vetoed_where_the_classifier_only_vetoes():
    # The classifier takes espeak-ng's "stop" (the demo's synthetic user) for no command at all
    # (p 0.88). Where it only vetoes, a halting command is left to the grammar engine: a lost
    # "stop" leaves someone on a moving belt; a false one only pauses and asks.
    from voicecoach.speak import SAMPLE_RATE
    from voicecoach.track import build_track
    vocabulary = Vocabulary.default("en")
    recognizer = make_engine(vocabulary, "pocketsphinx")
    assert recognizer.never_vetoed == {"stop"}
    track = build_track([(1.0, "stop")])
    events = listen(vocabulary, recognizer, track, rate=SAMPLE_RATE, chunk=SAMPLE_RATE // 50)
    assert [c.intent for c in commands(events)] == ["stop"]
    # The classifier alone, on the word and what came before it, would have thrown it away.
    from voicecoach.speak.tts import resample
    word = resample(track, SAMPLE_RATE, 16000)[int(0.4 * 16000):int(2.2 * 16000)]
    label, _ = recognizer.model.decide((word * 32767).astype(np.int16), "stop", recognizer.known)
    assert label == ""
