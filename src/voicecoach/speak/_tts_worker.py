"""pyttsx3 in its own process (`python -m voicecoach.speak._tts_worker`).

pyttsx3's espeak driver can hang in runAndWait or refuse a second loop; here that can only
hang this process, which the parent kills after a timeout and replaces. Protocol: one JSON
object per line on stdin, one JSON reply per line on our private copy of stdout (the driver
prints "Audio saved to ..." on stdout, which goes to stderr instead).
"""
from __future__ import annotations

import json
import os
import sys


def _voice_list(engine) -> list[dict]:
    out = []
    for v in engine.getProperty("voices"):
        out.append({"id": v.id, "name": v.name, "languages": list(v.languages or []),
                    "gender": v.gender})
    return out


def _resolve_voice(voices: list[dict], wanted: str) -> str | None:
    """A voice id for a name given as id, name or language (case-insensitive), keeping an
    espeak variant suffix ("en-us+f2": the en-us voice, female variant 2)."""
    base, plus, variant = wanted.strip().partition("+")
    found = _resolve_base(voices, base)
    return found + plus + variant if found and plus else found


def _resolve_base(voices: list[dict], wanted: str) -> str | None:
    w = wanted.lower()
    for key in ("id", "name"):
        for v in voices:
            if (v[key] or "").lower() == w:
                return v["id"]
    for v in voices:
        if any((lang or "").lower() == w for lang in v["languages"]):
            return v["id"]
    for v in voices:   # "en-us" also matches the id "gmw/en-us"
        if v["id"].lower().rsplit("/", 1)[-1] == w:
            return v["id"]
    return None


def _keep_last_chunk(engine) -> None:
    """pyttsx3's espeak driver writes the file when it sees the end-of-message event and only
    then appends that callback's samples, so samples arriving with that event would be lost
    (libespeak-ng 1.51 sends it in a callback of its own, but nothing promises that). Append
    the samples before the driver looks at the events."""
    import ctypes
    from pyttsx3.drivers import _espeak
    driver = getattr(getattr(engine, "proxy", None), "_driver", None)
    if driver is None or not hasattr(driver, "_onSynth"):
        return      # another driver: nothing to fix
    original = driver._onSynth

    def on_synth(wav, numsamples, events):
        if numsamples > 0 and driver._speaking:
            driver._data_buffer += ctypes.string_at(wav, numsamples * ctypes.sizeof(ctypes.c_short))
        return original(wav, 0, events)

    _espeak.SetSynthCallback(on_synth)


def _current_parameters():
    """(rate, volume) espeak-ng will speak with now. pyttsx3 queues parameter changes in
    espeak-ng's command fifo (asynchronous mode) and now and then, on a busy machine, the
    first text of a fresh engine is spoken at the old rate (the constructor's 200 words per
    minute instead of the 160 asked for) and the change never takes effect: the parameters
    are then set again and the job rendered again."""
    import ctypes
    from pyttsx3.drivers import _espeak
    get = _espeak.dll.espeak_GetParameter
    get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int, ctypes.c_int]
    return get(_espeak.RATE, 1), get(_espeak.VOLUME, 1)


def _frames(path: str) -> int:
    import wave
    with wave.open(path, "rb") as w:
        return w.getnframes()


def main() -> int:
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    try:
        import pyttsx3
        engine = pyttsx3.init()
        _keep_last_chunk(engine)
        voices = _voice_list(engine)
        default_voice = engine.getProperty("voice")
    except Exception as e:  # no libespeak-ng, broken driver: say so and quit
        replies.write(json.dumps({"error": f"pyttsx3 could not start: {type(e).__name__}: {e}"}) + "\n")
        return 1
    replies.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["op"] == "voices":
                replies.write(json.dumps({"ok": voices}) + "\n")
                continue
            voice = default_voice
            if req.get("voice"):
                voice = _resolve_voice(voices, req["voice"])
                if voice is None:
                    raise ValueError(f"no voice {req['voice']!r} (see `voicecoach voices`)")
            wanted = (int(req["rate"]), int(round(float(req["volume"]) * 100, 2)))
            # Now and then (first job of a fresh engine, busy machine) the driver writes an
            # empty file, or speaks at the old rate; in our runs another try of the same job
            # produced the audio asked for.
            for attempt in range(3):
                engine.setProperty("voice", voice)
                engine.setProperty("rate", int(req["rate"]))
                engine.setProperty("volume", float(req["volume"]))
                engine.save_to_file(req["text"], req["path"])
                engine.runAndWait()
                if not os.path.exists(req["path"]):
                    raise RuntimeError("runAndWait returned without writing the file")
                seen = (_frames(req["path"]), _current_parameters())
                if seen[0] > 0 and seen[1] == wanted:
                    break
            else:
                frames, (rate, volume) = seen
                raise RuntimeError(f"three tries, and the last wrote {frames} samples at rate "
                                   f"{rate} and volume {volume} % (asked for {wanted[0]} and "
                                   f"{wanted[1]} %)")
            replies.write(json.dumps({"ok": voice}) + "\n")
        except Exception as e:
            replies.write(json.dumps({"error": f"{type(e).__name__}: {e}"}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
