"""Listening: offline command recognition. Audio frames in, listener events out.

    from voicecoach.listen import Listener, make_engine
    listener = Listener(vocabulary, make_engine(vocabulary), sample_rate=48000, channels=2)
    events = listener.feed(chunk)          # SpeechStarted, PartialText, Command, Rejected

Stages: frontend.py (voice activity, end-pointing) -> listener.py (the audio buffer) -> an
engine (scoring.Engine: whisper.py, engines.py, learned.py; chosen in registry.py) -> scores
-> policy.py (the one decision) -> Command / Rejected.
"""
from .engines import PocketSphinxEngine, PocketSphinxSettings, VoskEngine
from .listener import Listener, ListenerSettings, Result, summarize
from .registry import ENGINES, make_engine
from .scoring import Engine, EngineError, Scores, Utterance
from .vocabfile import load_vocab_file

__all__ = ["Listener", "ListenerSettings", "Engine", "EngineError", "Scores", "Utterance",
           "PocketSphinxEngine", "PocketSphinxSettings", "VoskEngine", "ENGINES", "make_engine",
           "load_vocab_file", "Result", "summarize"]
