"""The listening benchmark with the vocabulary people actually run: the default English one.

    python tools/bench_default_vocabulary.py [--noise WAV --snr DB] [--engine E] [--learned-off]

`voicecoach bench listen` measures the ten Speech Commands words as a vocabulary of their own.
A session listens with the default vocabulary instead (go, pause, stop, faster/"up",
slower/"down", yes, no, how long, ...): Whisper scores all of its phrases (or, with
--engine pocketsphinx, PocketSphinx decides with competitor words and the learned classifier
judges the words it knows). This plays the same dev recordings through the same
streaming benchmark (`bench.run`) with that vocabulary: a clip of a word the vocabulary has is
a command of that word's intent ("up" must come out as `faster`), and a clip of a word it
lacks (on, off, left, right) joins the negatives, which it is now. One JSON line.

Data: ../shared/data/speech (Google Speech Commands v0.02, CC-BY-4.0, Warden 2018; cards
sentences from Debian pocketsphinx-testdata), read in place.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from voicecoach.listen import bench
from voicecoach.listen.audio import load_mono_16k
from voicecoach.listen.registry import ENGINES
from voicecoach.vocabulary import Vocabulary


def clips_for(vocabulary: Vocabulary, data: Path):
    return as_vocabulary(vocabulary,
                         bench.read_manifest(data / "commands-dev" / "manifest.csv", True),
                         bench.read_manifest(data / "negatives-dev" / "manifest.csv", False))


def as_vocabulary(vocabulary: Vocabulary, commands: list[bench.Clip], negatives: list[bench.Clip]):
    """(commands, negatives) for this vocabulary: a command clip becomes a command of the
    intent its word has here, or a negative if the vocabulary lacks the word."""
    out = []
    for clip in commands:
        intent = vocabulary.intent_for(clip.word)
        if intent is None:
            negatives = negatives + [bench.Clip(clip.path, clip.word, False)]
        else:
            out.append(bench.Clip(clip.path, intent, True))
    return out, negatives


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "speech")
    ap.add_argument("--noise", type=Path)
    ap.add_argument("--snr", type=float, default=10.0)
    ap.add_argument("--engine", choices=ENGINES, help="default: as a session chooses")
    ap.add_argument("--learned-off", action="store_true", help="no learned classifier")
    args = ap.parse_args()
    vocabulary = Vocabulary.default("en")
    commands, negatives = clips_for(vocabulary, args.data)
    noise = load_mono_16k(args.noise) if args.noise else None
    result = bench.run_engine(commands, negatives, vocabulary, args.engine,
                              learned=not args.learned_off, noise=noise,
                              snr_db=args.snr if noise is not None else None,
                              noise_name=str(args.noise) if args.noise else None)
    print(json.dumps({"vocabulary": "default (en)", **result}))


if __name__ == "__main__":
    main()
