"""Listening: offline command recognition. Audio frames in, listener events out.

    from voicecoach.listen import Listener, make_recognizer
    listener = Listener(vocabulary, make_recognizer(vocabulary), sample_rate=48000, channels=2)
    events = listener.feed(chunk)          # SpeechStarted, PartialText, Command, Rejected
"""
from .engines import Hypothesis, PocketSphinxEngine, PocketSphinxSettings, Recognizer, VoskEngine, make_recognizer
from .listener import Listener, ListenerSettings, Result, summarize
from .vocabfile import load_vocab_file

__all__ = ["Listener", "ListenerSettings", "Recognizer", "Hypothesis", "PocketSphinxEngine",
           "PocketSphinxSettings", "VoskEngine", "make_recognizer", "load_vocab_file",
           "Result", "summarize"]
