"""Calibrate the Whisper listener's rejection on speakers it is not tested on.

    python tools/calibrate_whisper.py read --split train -o out/whisper-train.json
    python tools/calibrate_whisper.py read --split dev [--noise WAV --snr 10] -o out/whisper-dev.json
    python tools/calibrate_whisper.py choose out/whisper-train.json --test out/whisper-dev.json

`read` plays every clip of commands-<split> and negatives-<split> (../shared/data/speech,
Google Speech Commands, CC-BY-4.0, Warden 2018) to the Whisper engine as the listener hands an
utterance over (250 ms of pre-roll, the clip, 150 ms of hangover) and keeps what the decoder
made of it (whisper.Reading) for the phrases of the default vocabulary and the ten words.

`choose` sets the policy's margin on the training speakers (the largest accuracy with at most
--far false accepts, for the ten words and for the default vocabulary, where "up"/"down" are
faster/slower and on/off/left/right are negatives) and reports the figures on the test file:
speakers the margin was not chosen on. Clip by clip, with no end-pointer: the streaming
figures come from `voicecoach bench listen` and tools/bench_default_vocabulary.py.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from voicecoach.listen import bench
from voicecoach.listen.audio import load_mono_16k
from voicecoach.listen.policy import Policy, decide
from voicecoach.listen.registry import make_engine
from voicecoach.listen.whisper import Reading, WhisperEngine, WhisperSettings, as_scores
from voicecoach.vocabulary import Vocabulary

TEN = ("stop", "go", "up", "down", "yes", "no", "on", "off", "left", "right")
DEFAULT_AS = {"up": "faster", "down": "slower"}     # the ten words in the default vocabulary


def vocabularies() -> dict[str, Vocabulary]:
    return {"ten": Vocabulary.from_mapping("en", {w: [w] for w in TEN}),
            "default": Vocabulary.default("en")}


def expected(vocabulary_name: str, vocabulary: Vocabulary, word: str, is_command: bool):
    if not is_command:
        return None
    return word if vocabulary_name == "ten" else vocabulary.intent_for(word)


def read(args) -> None:
    vocabs = vocabularies()
    union = sorted({p for v in vocabs.values() for p in v.all_phrases()})
    engine = make_engine(Vocabulary.from_mapping("en", {p: [p] for p in union}), "whisper")
    assert isinstance(engine, WhisperEngine)
    engine.settings = WhisperSettings(context_seconds=args.context)
    engine.wait_ready()
    firsts = engine.first_tokens(union)
    noise = load_mono_16k(args.noise) if args.noise else None
    rng = np.random.default_rng(0)
    out, seconds = [], []
    for is_command, folder in ((True, f"commands-{args.split}"), (False, f"negatives-{args.split}")):
        manifest = args.data / folder / "manifest.csv"
        for row in csv.DictReader(open(manifest, encoding="utf-8")):
            x = load_mono_16k(manifest.parent / row["path"])
            audio = np.concatenate([np.zeros(4000, np.float32), x, np.zeros(2400, np.float32)])
            if noise is not None:
                start = int(rng.integers(0, len(noise) - len(audio)))
                gain = bench.active_rms(x) / (np.sqrt(np.mean(noise ** 2)) + 1e-12) / 10 ** (args.snr / 20)
                audio = np.clip(audio + noise[start:start + len(audio)] * gain, -1, 1)
            t = time.perf_counter()
            reading = engine.read((audio * 32767).astype(np.int16))
            seconds.append(time.perf_counter() - t)
            out.append({"word": row["word"], "speaker": row.get("speaker", ""),
                        "command": is_command,
                        "none": float(np.logaddexp.reduce(np.delete(reading.first, firsts))),
                        "first": {str(t): float(reading.first[t]) for t in firsts},
                        "spelled": reading.spelled})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"context": args.context, "noise": str(args.noise),
                                       "snr": args.snr, "clips": out}))
    ms = np.array(seconds) * 1000
    print(f"{len(out)} clips, read in p50 {np.percentile(ms, 50):.0f} / p95 "
          f"{np.percentile(ms, 95):.0f} ms each -> {args.output}", file=sys.stderr)


def outcomes(data: dict, vocabulary_name: str, vocabulary: Vocabulary, engine_firsts,
             require_end: bool = True):
    """(expected intent or None, best intent, its margin over none) per clip."""
    phrases = vocabulary.all_phrases()
    firsts = {str(t) for t in engine_firsts(phrases)}
    rows = []
    for clip in data["clips"]:
        # "None" for this vocabulary: the union's none plus the first tokens it lacks.
        none = float(np.logaddexp.reduce([clip["none"]] + [lp for t, lp in clip["first"].items()
                                                            if t not in firsts]))
        reading = Reading(np.zeros(0), [tuple(s) for s in clip["spelled"]])
        scores = as_scores(reading.phrase_scores(phrases, require_end), none)
        rows.append((expected(vocabulary_name, vocabulary, clip["word"], clip["command"]),
                     scores))
    return rows


def figures(rows, vocabulary: Vocabulary, policy: Policy) -> tuple[float, float]:
    commands = [(want, s) for want, s in rows if want is not None]
    negatives = [s for want, s in rows if want is None]
    correct = sum(decide(s, vocabulary, policy).intent == want for want, s in commands)
    false = sum(decide(s, vocabulary, policy).intent is not None for s in negatives)
    return correct / max(len(commands), 1), false / max(len(negatives), 1)


def choose(args) -> None:
    train = json.loads(args.train.read_text())
    tests = [json.loads(p.read_text()) for p in args.test]
    ref = make_engine(Vocabulary.default("en"), "whisper")
    assert isinstance(ref, WhisperEngine)
    ref.wait_ready()
    for name, vocabulary in vocabularies().items():
        for require_end in (True, False):
            rows = outcomes(train, name, vocabulary, ref.first_tokens, require_end)
            best = None
            for relief in (0.0, 1.0, 2.0):
                for margin in np.arange(-8.0, 4.01, 0.25):
                    policy = Policy(margin=float(margin), halt_relief=relief)
                    acc, far = figures(rows, vocabulary, policy)
                    if far <= args.far and (best is None or acc > best[0] + 1e-9):
                        best = (acc, far, policy)
            if best is None:
                print(f"{name}, end {require_end}: no margin keeps false accepts <= {args.far}")
                continue
            acc, far, policy = best
            line = (f"{name:8} end={'yes' if require_end else 'no '} margin {policy.margin:+.2f} "
                    f"relief {policy.halt_relief:.0f}: train {acc:.3f} / {far:.3f}")
            for path, test in zip(args.test, tests):
                t_acc, t_far = figures(outcomes(test, name, vocabulary, ref.first_tokens,
                                                require_end), vocabulary, policy)
                line += f"; {path.name} {t_acc:.3f} / {t_far:.3f}"
            print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("read")
    r.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "speech")
    r.add_argument("--split", choices=("train", "dev"), required=True)
    r.add_argument("--noise", type=Path)
    r.add_argument("--snr", type=float, default=10.0)
    r.add_argument("--context", type=float, default=WhisperSettings().context_seconds)
    r.add_argument("-o", "--output", type=Path, required=True)
    c = sub.add_parser("choose")
    c.add_argument("train", type=Path)
    c.add_argument("--test", type=Path, nargs="*", default=[])
    c.add_argument("--far", type=float, default=0.01, help="false accepts allowed on train")
    args = ap.parse_args()
    read(args) if args.what == "read" else choose(args)


if __name__ == "__main__":
    main()
