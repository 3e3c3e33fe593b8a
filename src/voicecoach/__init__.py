"""voicecoach: an offline, voice-first audio coach."""

__version__ = "0.1.0"
