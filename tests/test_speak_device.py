"""The sounddevice sink for real: a private PulseAudio server with a null sink stands in for
earbuds; the live player writes a cue and an acknowledgement that cuts it, and what reaches the
sink is recorded from its monitor."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np

# `pulse`: the shared virtual devices (tests/conftest.py, voicecoach.virtual_audio).


PLAY = textwrap.dedent("""
    import json, time
    from voicecoach.speak import earcons
    from voicecoach.speak.player import LivePlayer, duration_from
    from voicecoach.speak.sinks import SoundDeviceSink
    from voicecoach.speech_queue import Priority, SpeechQueue, Utterance
    import numpy as np
    cue = np.tile(earcons.load("warning"), 8)          # ~2 s: long enough to be cut
    sound_of = lambda u: earcons.load(u.earcon) if u.earcon != "cue" else cue
    queue = SpeechQueue(duration_from(sound_of, 22050))
    sink = SoundDeviceSink(device="pulse")
    live = LivePlayer(sink, sound_of)
    live.start()
    t0 = time.perf_counter()
    now = lambda: time.perf_counter() - t0
    live.submit(queue.submit(Utterance("", Priority.CUE, "cue", earcon="cue"), now()))
    while live.player.position < 22050 * 0.5:
        time.sleep(0.01)
    decided = time.perf_counter()
    actions = queue.submit(Utterance("", Priority.ACK, "response", earcon="ack"), now())
    live.submit(actions, decided=decided)
    live.stop()
    print(json.dumps({"actions": [type(a).__name__ for a in actions],
                      "latencies": [(u.earcon, l) for u, l in live.latencies],
                      "written": live.player.position, "played": sink.frames_played,
                      "placed": live.player.placed}))
""")


def test_the_live_player_plays_through_a_sounddevice_stream(pulse, tmp_path):
    recording = tmp_path / "monitor.raw"
    with open(recording, "wb") as f:
        # 100 ms of recording buffer: with 20 ms the recorder itself lost parts of the stream
        # on a 2-core VM (0.24-0.75 s recorded of 0.6 s played).
        rec = subprocess.Popen(["parec", "-d", "earbuds.monitor", "--raw", "--format=s16le",
                                "--rate=22050", "--channels=1", "--latency-msec=100"],
                               env=pulse.env(), stdout=f, stderr=subprocess.DEVNULL)
        try:
            done = subprocess.run([sys.executable, "-c", PLAY], env=pulse.env(), capture_output=True,
                                  text=True, timeout=60)
        finally:
            rec.terminate()
            rec.wait()
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["actions"] == ["Cut", "Started"]
    assert [name for name, _ in result["latencies"]] == ["cue", "ack"]
    assert result["played"] >= result["written"] - 256     # the stream played what it was given
    # What reached the "earbuds": sound, then (after the cut and the short ack) silence again.
    heard = np.frombuffer(recording.read_bytes(), dtype="<i2").astype(np.float32) / 32768
    loud = np.flatnonzero(np.abs(heard) > 0.05)
    assert len(loud), "nothing reached the sink"
    cue_start, _ = result["placed"]["1"]
    ack_start, ack_end = result["placed"]["2"]
    span = (loud[-1] - loud[0]) / 22050
    # From first to last loud sample: the cue until the cut, then the ack, and nothing more
    # (the cue alone would have lasted 2.7 s).
    assert abs(span - (ack_end - cue_start) / 22050) < 0.05, (span, (ack_end - cue_start) / 22050)
