"""The player: utterances start at the sample of their time, a cut one fades out at the cut,
the same code writes to a WAV file, memory or (live, paced) a stream; and the earcons."""
from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile

from voicecoach.speak import SAMPLE_RATE, earcons
from voicecoach.speak.player import CUT_FADE, LivePlayer, Player, duration_from
from voicecoach.speak.sinks import MemorySink, WavSink
from voicecoach.speech_queue import Cut, Priority, SpeechQueue, Started, Utterance

SR = SAMPLE_RATE


def tone(seconds: float, level: float) -> np.ndarray:
    return np.full(int(seconds * SR), level, dtype=np.float32)


SOUNDS = {"cue": tone(2.0, 0.5), "ack": tone(0.3, -0.25)}


def sound_of(utt: Utterance) -> np.ndarray:
    return earcons.load(utt.earcon) if utt.earcon else SOUNDS[utt.text]


def utt(text: str, uid: int, priority=Priority.CUE) -> Utterance:
    return Utterance(text, priority, "cue", id=uid)


def test_an_utterance_starts_exactly_at_the_sample_of_its_time():
    sink = MemorySink()
    player = Player(sink, sound_of)
    player.handle(Started(utt("ack", 1), 1.25, 0.3))
    player.finish(tail=0.1)
    out = sink.samples
    first = np.flatnonzero(out)[0]
    assert first == int(1.25 * SR)
    assert np.count_nonzero(out) == len(SOUNDS["ack"])
    assert len(out) == int(1.25 * SR) + len(SOUNDS["ack"]) + int(0.1 * SR)


def test_a_cut_utterance_fades_out_from_the_cut_and_then_is_silent():
    sink = MemorySink()
    player = Player(sink, sound_of)
    player.handle(Started(utt("cue", 1), 0.0, 2.0))
    player.write_until(0.5)
    player.handle(Cut(utt("cue", 1), 0.5))
    player.finish(tail=0.2)
    out = sink.samples
    cut, fade = int(0.5 * SR), int(CUT_FADE * SR)
    assert np.all(out[:cut] == 0.5)                        # untouched before the cut
    ramp = out[cut:cut + fade]
    assert ramp[0] <= 0.5 and np.all(np.diff(ramp) <= 0) and ramp[-1] < 0.5 / fade * 2
    assert np.all(out[cut + fade:] == 0)                   # nothing after the fade


def test_the_speech_queue_drives_the_player_an_ack_cuts_a_cue_and_starts_at_once():
    sink = MemorySink()
    player = Player(sink, sound_of)
    queue = SpeechQueue(duration_from(sound_of, SR), min_gap=1.0)
    player.handle_all(queue.submit(Utterance("cue", Priority.CUE, "cue"), 0.0))
    player.write_until(0.8)
    actions = queue.submit(Utterance("ack", Priority.ACK, "response"), 0.8)
    assert [type(a) for a in actions] == [Cut, Started]
    player.handle_all(actions)
    player.finish(tail=0.1)
    out = sink.samples
    at = int(0.8 * SR)
    assert np.all(out[:at] == 0.5)
    # From the cut on: the fading cue plus the ack, then the ack alone.
    after_fade = out[at + int(CUT_FADE * SR): at + len(SOUNDS["ack"])]
    assert np.allclose(after_fade, -0.25)
    assert np.all(out[at + len(SOUNDS["ack"]):] == 0)


def test_a_time_already_written_means_at_once_the_write_head():
    sink = MemorySink()
    player = Player(sink, sound_of)
    player.write_until(1.0)
    player.handle(Started(utt("ack", 1), 0.2, 0.3))        # late: the clock was behind
    player.finish(tail=0.0)
    assert np.flatnonzero(sink.samples)[0] == SR


def test_the_wav_sink_writes_what_the_player_plays(tmp_path):
    path = tmp_path / "out.wav"
    player = Player(WavSink(path), sound_of)
    player.handle(Started(utt("ack", 1), 0.5, 0.3))
    player.handle(Started(Utterance("", Priority.ACK, "response", earcon="start", id=2), 1.0, 0.2))
    player.finish(tail=0.1)
    data, rate = soundfile.read(path, dtype="float32")
    info = soundfile.info(path)
    assert rate == SR and info.channels == 1 and info.subtype == "PCM_16"
    assert np.flatnonzero(np.abs(data) > 0.01)[0] == int(0.5 * SR)
    start_tone = earcons.load("start")
    seg = data[SR:SR + len(start_tone)]
    assert np.max(np.abs(seg - start_tone)) < 2 / 32768


def test_live_player_plays_an_ack_right_after_cutting_the_cue():
    sink = MemorySink()
    live = LivePlayer(sink, sound_of)      # a memory sink: paced to real time by the player
    queue = SpeechQueue(duration_from(sound_of, SR))
    t0 = time.perf_counter()
    live.start()
    live.submit(queue.submit(Utterance("cue", Priority.CUE, "cue"), 0.0))
    while live.player.position < int(0.2 * SR):            # wait until the cue is sounding
        time.sleep(0.005)
    decided = time.perf_counter()
    live.submit(queue.submit(Utterance("ack", Priority.ACK, "response"),
                             decided - t0), decided=decided)
    live.stop()
    out = sink.samples
    ack_start = live.player.placed[2][0]
    assert ack_start >= int(0.2 * SR)
    assert np.allclose(out[ack_start + int(CUT_FADE * SR): ack_start + len(SOUNDS["ack"])], -0.25)
    assert np.all(out[ack_start + len(SOUNDS["ack"]):] == 0)
    assert [u.text for u, _ in live.latencies] == ["cue", "ack"]


# --- earcons --------------------------------------------------------------------------------

SESSION_EARCONS = ("start", "pause", "ack", "not_understood", "warning", "end")


def test_earcons_in_audio_are_exactly_what_the_generator_makes(tmp_path):
    assert earcons.main(["--check"]) == 0
    earcons.write_all(tmp_path)
    for name in SESSION_EARCONS:
        committed = (earcons.AUDIO_DIR / f"{name}.wav").read_bytes()
        assert (tmp_path / f"{name}.wav").read_bytes() == committed


@pytest.mark.parametrize("name", SESSION_EARCONS)
def test_each_earcon_is_short_audible_and_starts_and_ends_quietly(name):
    x = earcons.load(name)
    assert 0.05 < len(x) / SR < 0.6
    assert np.max(np.abs(x)) > 0.3
    assert abs(x[0]) < 0.01 and abs(x[-1]) < 0.01          # faded: no click


def test_earcons_differ_from_each_other():
    heads = {name: earcons.load(name)[: int(0.05 * SR)].tobytes() for name in SESSION_EARCONS}
    assert len(set(heads.values())) == 5   # pause and end open on the same note, by design


def test_a_cue_recording_at_another_rate_is_resampled_to_the_output_rate(tmp_path):
    from voicecoach.speak.player import sounds_from
    rec = tmp_path / "clap.wav"
    t = np.arange(44100) / 44100
    soundfile.write(rec, np.stack([np.sin(2 * np.pi * 440 * t)] * 2, axis=1) * 0.5, 44100)
    cue = Utterance("Clap.", Priority.CUE, "cue", id=1)
    cue.extra = {"audio": str(rec)}
    audio = sounds_from(renderer=None)(cue)          # a recording needs no speech engine
    assert len(audio) == SR                          # one second, now at 22050 Hz, mono
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * SR / len(audio) - 440) < 2
