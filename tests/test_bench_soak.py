"""The soak benchmark's hour (built from the speech data's negatives and noise, the same every
time) and its count of what the coach acted on, on a short stretch run through the real coach."""
from __future__ import annotations

import numpy as np

from conftest import SPEECH_DATA
from voicecoach.bench_soak import BEDS, build_hour, count, run


def test_the_soak_hour_is_the_same_every_time_and_holds_what_it_says():
    a, info = build_hour(SPEECH_DATA, seconds=240)
    b, _ = build_hour(SPEECH_DATA, seconds=240)
    assert np.array_equal(a, b) and len(a) == 240 * 16000
    assert list(info["beds"]) == list(BEDS) and info["beds"]["running_tap"][1] == 240
    # Talk throughout: words alone and in runs, none of them a command word of the vocabulary.
    assert info["words"] > 40 and info["runs"] > 3
    said = {word for _, word, _ in info["said"]}
    assert said.isdisjoint({"go", "stop", "up", "down", "yes", "no", "faster", "pause"})
    # The beds are there: the tap quarter is louder than the quiet one between the words.
    quiet, tap = a[10 * 16000:50 * 16000], a[190 * 16000:230 * 16000]
    assert np.percentile(np.abs(tap), 20) > 5 * np.percentile(np.abs(quiet), 20)


def test_count_separates_the_opening_command_from_false_ones():
    lines = [
        {"type": "heard", "intent": "go", "text": "go", "t_audio_start": 2.1},
        {"type": "heard", "intent": "faster", "text": "up", "t_audio_start": 100.0},
        {"type": "command", "intent": None, "text": "", "t": 120.0},
        {"type": "state", "state": "confirming_end", "text": "confirming_end", "t": 130.0},
        {"type": "state", "state": "finished", "text": "finished", "t": 150.0},
    ]
    beds = {"quiet": [0, 60], "exercise_bike_a": [60, 120], "doing_the_dishes": [120, 180],
            "running_tap": [180, 240]}
    said = [(99.8, "bed", "negatives-train/bed/x.wav")]
    f = count(lines, opening_end=2.9, seconds=240, beds=beds, said=said)
    assert f["opening_go_taken"] is True
    assert f["false_by_intent"] == {"faster": 1} and f["false_commands_per_hour"] == 15.0
    assert f["false_by_bed"] == {"exercise_bike_a": 1}
    assert f["false_heard_as"] == ['100.0s faster ("up") <- bed']
    assert f["not_understood_per_hour"] == 15.0
    assert f["session_ended_at"] == 150.0 and f["session_held"] == 1


def test_a_short_soak_runs_through_the_real_coach():
    figures = run(SPEECH_DATA, seconds=90, progress=lambda m: None)
    # The opening "go", a real speaker, starts the session; talk after it must not end it.
    assert figures["opening_go_taken"] is True
    assert figures["session_ended_at"] is None
    assert figures["rejected"].get("not a command", 0) > 5
