"""Calibrate the Whisper listener's rejection on speakers it is not tested on.

    python tools/calibrate_whisper.py read --split train -o out/whisper-train.json
    python tools/calibrate_whisper.py read --split dev [--noise WAV... --snr 10] -o out/whisper-dev.json
    python tools/calibrate_whisper.py choose out/whisper-train.json --test out/whisper-dev.json
    python tools/calibrate_whisper.py read --split train --noise NOISE... -o out/whisper-train-noise.json
    python tools/calibrate_whisper.py head out/whisper-train.json out/whisper-train-noise.json \
        --test out/whisper-dev.json out/whisper-dev-bike.json

`read` plays every clip of commands-<split> and negatives-<split> (../shared/data/speech,
Google Speech Commands, CC-BY-4.0, Warden 2018) to the Whisper engine as the listener hands an
utterance over (250 ms of pre-roll, the clip, 150 ms of hangover) and keeps what the decoder
made of it (whisper.Reading) for the phrases of the default vocabulary and the ten words.

`choose` sets the policy's margin on the training speakers (the largest accuracy with at most
--far false accepts, for the ten words and for the default vocabulary, where "up"/"down" are
faster/slower and on/off/left/right are negatives) and reports the figures on the test file:
speakers the margin was not chosen on. Clip by clip, with no end-pointer: the streaming
figures come from `voicecoach bench listen` and tools/bench_default_vocabulary.py.

`head` trains the head on the encoder output (listen/head.py, fused in listen/whisper.py):
logistic regression from the mean and maximum of the utterance's encoder frames to the ten
words or none, on every training clip twice, once quiet and once in a noise other than the
test's exercise bike (`read --noise` of running_tap, doing_the_dishes, white_noise and
pink_noise at 10 dB). Its fusion weight and bias are chosen on out-of-fold scores (5 folds, speakers grouped), for the most accuracy in both vocabularies
with at most --far false accepts in quiet and, in noise, no more than Whisper alone makes, at
Whisper's own margin
(phrases the head does not know are held to it). The head is then trained
on all of train and written to listen/models/whisper_head.npz with the digest of the model it
was trained on (it is fused into no other). Needs scikit-learn (training only).
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
from voicecoach.listen.head import NONE, Head, save_head
from voicecoach.listen.policy import POLICIES, Policy, decide
from voicecoach.listen.registry import make_engine
from voicecoach.listen.whisper import (
    HEAD_FILE, Fusion, Reading, WhisperEngine, WhisperSettings, as_scores, fuse)
from voicecoach.models import find_whisper_model, whisper_model_digest
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
    noises = [load_mono_16k(path) for path in args.noise]
    rng = np.random.default_rng(0)
    out, seconds, pooled = [], [], []
    model = engine.wait_ready()
    for is_command, folder in ((True, f"commands-{args.split}"), (False, f"negatives-{args.split}")):
        manifest = args.data / folder / "manifest.csv"
        for row in csv.DictReader(open(manifest, encoding="utf-8")):
            x = load_mono_16k(manifest.parent / row["path"])
            audio = np.concatenate([np.zeros(4000, np.float32), x, np.zeros(2400, np.float32)])
            if noises:
                noise = noises[int(rng.integers(0, len(noises)))]
                start = int(rng.integers(0, len(noise) - len(audio)))
                gain = bench.active_rms(x) / (np.sqrt(np.mean(noise ** 2)) + 1e-12) / 10 ** (args.snr / 20)
                audio = np.clip(audio + noise[start:start + len(audio)] * gain, -1, 1)
            t = time.perf_counter()
            encoded = np.array(engine.encoder_output((audio * 32767).astype(np.int16)))
            reading = engine.read(audio, encoded)  # encoded once, kept for the head below
            seconds.append(time.perf_counter() - t)
            # The encoder's view of the utterance (20 ms a frame): mean and max over its frames.
            frames = encoded[0, :int(np.ceil(len(audio) / 320))]
            pooled.append(np.concatenate([frames.mean(0), frames.max(0)]).astype(np.float16))
            others = np.delete(reading.first, firsts)
            out.append({"word": row["word"], "speaker": row.get("speaker", ""),
                        "command": is_command,
                        "none": float(np.logaddexp.reduce(others)),
                        "other": float(others.max()),
                        "eot": float(reading.first[model.eot]),
                        "first": {str(t): float(reading.first[t]) for t in firsts},
                        "spelled": reading.spelled})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.output.with_suffix(".npy"), np.stack(pooled))
    args.output.write_text(json.dumps({"context": args.context, "model": model.name,
                                       "noise": [str(p) for p in args.noise],
                                       "snr": args.snr, "clips": out}))
    ms = np.array(seconds) * 1000
    print(f"{len(out)} clips, read in p50 {np.percentile(ms, 50):.0f} / p95 "
          f"{np.percentile(ms, 95):.0f} ms each -> {args.output}", file=sys.stderr)


def clip_scores(data: dict, vocabulary: Vocabulary, engine_firsts) -> list[tuple[dict, float]]:
    """Whisper's own (phrase scores, none) per clip, for this vocabulary."""
    phrases = vocabulary.all_phrases()
    firsts = {str(t) for t in engine_firsts(phrases)}
    out = []
    for clip in data["clips"]:
        # "None" for this vocabulary: the union's none plus the first tokens it lacks.
        none = float(np.logaddexp.reduce([clip["none"]] + [lp for t, lp in clip["first"].items()
                                                            if t not in firsts]))
        reading = Reading(np.zeros(0), [(s[0], s[1]) for s in clip["spelled"]])
        out.append((reading.phrase_scores(phrases), none))
    return out


def outcomes(data: dict, vocabulary_name: str, vocabulary: Vocabulary, engine_firsts,
             fusion: Fusion | None = None, head_logp: np.ndarray | None = None):
    """(expected intent or None, Scores) per clip; with the head's log-probabilities per clip
    fused in when given."""
    rows = []
    for i, (clip, (phrases, none)) in enumerate(zip(data["clips"],
                                                    clip_scores(data, vocabulary, engine_firsts))):
        if fusion is not None:
            phrases = fusion.apply(phrases, head_logp[i])
        rows.append((expected(vocabulary_name, vocabulary, clip["word"], clip["command"]),
                     as_scores(phrases, none)))
    return rows


def figures(rows, vocabulary: Vocabulary, policy: Policy) -> tuple[float, float]:
    commands = [(want, s) for want, s in rows if want is not None]
    negatives = [s for want, s in rows if want is None]
    correct = sum(decide(s, vocabulary, policy).intent == want for want, s in commands)
    false = sum(decide(s, vocabulary, policy).intent is not None for s in negatives)
    return correct / max(len(commands), 1), false / max(len(negatives), 1)


def reference_engine() -> WhisperEngine:
    engine = make_engine(Vocabulary.default("en"), "whisper")
    assert isinstance(engine, WhisperEngine)
    engine.wait_ready()
    return engine


def choose(args) -> None:
    """Whisper alone: the margin on train for at most --far false accepts."""
    train = json.loads(args.train.read_text())
    tests = [json.loads(p.read_text()) for p in args.test]
    ref = reference_engine()
    for name, vocabulary in vocabularies().items():
        rows = outcomes(train, name, vocabulary, ref.first_tokens)
        best = None
        for relief in (0.0, 1.0, 2.0):
            for margin in np.arange(-8.0, 4.01, 0.25):
                policy = Policy(margin=float(margin), halt_relief=relief)
                acc, far = figures(rows, vocabulary, policy)
                if far <= args.far and (best is None or acc > best[0] + 1e-9):
                    best = (acc, far, policy)
        if best is None:
            print(f"{name}: no margin keeps false accepts <= {args.far}")
            continue
        acc, far, policy = best
        line = (f"{name:8} margin {policy.margin:+.2f} relief {policy.halt_relief:.0f}: "
                f"train {acc:.3f} / {far:.3f}")
        for path, test in zip(args.test, tests):
            t_acc, t_far = figures(outcomes(test, name, vocabulary, ref.first_tokens),
                                   vocabulary, policy)
            line += f"; {path.name} {t_acc:.3f} / {t_far:.3f}"
        print(line)


# --- the head on the encoder output -------------------------------------------------------

HEAD_LABELS = (NONE,) + TEN


def _fit_head(X: np.ndarray, y: np.ndarray, C: float):
    """Logistic regression on standardised features (scikit-learn: training only)."""
    from sklearn.linear_model import LogisticRegression
    mean, scale = X.mean(0), X.std(0) + 1e-6
    clf = LogisticRegression(C=C, max_iter=3000).fit((X - mean) / scale, y)
    assert list(clf.classes_) == list(range(len(HEAD_LABELS))), clf.classes_
    return mean, scale, [(clf.coef_.T, clf.intercept_)]


def _head_file(path: Path, fit, digest: str, weight: float = 0.0, bias: float = 0.0) -> Head:
    mean, scale, weights = fit
    save_head(path, HEAD_LABELS, mean, scale, weights, weight=weight, bias=bias,
              model_sha256=digest)
    return Head(path)


def _candidates(data: dict, name: str, vocabulary: Vocabulary, ref: WhisperEngine,
                weight: float, head_logp: np.ndarray):
    """Per clip, for a fast search over the fusion's bias and the margin: the best fused score
    of a phrase the head knows (before the bias) and of one it does not, their intents,
    "none", and the intent expected."""
    rows = []
    for clip, (phrases, none), lp in zip(data["clips"], clip_scores(data, vocabulary, ref.first_tokens),
                                         head_logp):
        fused = fuse(phrases, lp, HEAD_LABELS, weight, 0.0)
        known, other = (-1e9, None), (-1e9, None)
        for p, score in fused.items():
            if p in HEAD_LABELS:
                known = max(known, (max(score, -60.0), p))
            else:
                other = max(other, (max(score, -60.0), p))
        rows.append((known[0], other[0], vocabulary.intent_for(known[1]) if known[1] else None,
                     vocabulary.intent_for(other[1]) if other[1] else None, max(none, -60.0),
                     expected(name, vocabulary, clip["word"], clip["command"])))
    K, U, IK, IU, N, W = (np.array(c, dtype=object if i in (2, 3, 5) else float)
                          for i, c in enumerate(zip(*rows)))
    return K, U, IK, IU, N, W


def _accept(arrays, bias: float, margin: float) -> tuple[float, float]:
    """(accuracy, false accepts) of the policy on _candidates' arrays."""
    K, U, IK, IU, N, W = arrays
    use_known = K + bias >= U
    best = np.where(use_known, K + bias, U)
    intent = np.where(use_known, IK, IU)
    taken, command = best - N >= margin, W != None   # noqa: E711 (an object array)
    return (float(np.sum(taken & command & (intent == W)) / max(command.sum(), 1)),
            float(np.sum(taken & ~command) / max((~command).sum(), 1)))


def head(args) -> None:
    """Train the head on train (quiet and noisy copies of every clip), choose its fusion
    weight and bias on out-of-fold log-probabilities (speakers grouped), write
    it, and report the figures on the test files."""
    from sklearn.model_selection import GroupKFold
    quiet, noisy = (json.loads(p.read_text()) for p in (args.train, args.train_noise))
    Xq, Xn = (np.load(p.with_suffix(".npy")).astype(np.float32)
              for p in (args.train, args.train_noise))
    assert [c["speaker"] for c in quiet["clips"]] == [c["speaker"] for c in noisy["clips"]]
    y = np.array([HEAD_LABELS.index(c["word"]) if c["command"] else 0 for c in quiet["clips"]])
    speakers = [c["speaker"] for c in quiet["clips"]]
    ref = reference_engine()
    digest = whisper_model_digest(find_whisper_model("en"))
    scratch = args.output.with_suffix(".fold.npz")
    oof = {"q": np.zeros((len(y), len(HEAD_LABELS))), "n": np.zeros((len(y), len(HEAD_LABELS)))}
    for fit_ids, held in GroupKFold(args.folds).split(Xq, y, speakers):
        fold = _head_file(scratch, _fit_head(np.concatenate([Xq[fit_ids], Xn[fit_ids]]),
                                             np.concatenate([y[fit_ids], y[fit_ids]]), args.C),
                          digest)
        for key, X in (("q", Xq), ("n", Xn)):
            oof[key][held] = [fold.log_probabilities(x) for x in X[held]]
    scratch.unlink()
    # One weight and bias for both vocabularies: the most accuracy (quiet + noisy, ten words +
    # default) with at most --far false accepts in quiet, and in noise no more than Whisper
    # alone makes. The margin
    # stays Whisper's own: it is what phrases the head does not know (a script's) are held to,
    # and train has no recordings of those to set it again on.
    sets = {(name, key): (data, vocabulary) for name, vocabulary in vocabularies().items()
            for key, data in (("q", quiet), ("n", noisy))}
    # In noise, the head may not add false accepts to Whisper's own (unless --noise-far).
    alone = {k: _accept(_candidates(data, k[0], vocabulary, ref, 0.0, oof[k[1]]), 0.0, args.margin)
             for k, (data, vocabulary) in sets.items()}
    limit = {k: args.far if k[1] == "q" else args.noise_far if args.noise_far is not None
             else alone[k][1] for k in sets}
    best = None
    for weight in args.weights:
        arrays = {k: _candidates(data, k[0], vocabulary, ref, weight, oof[k[1]])
                  for k, (data, vocabulary) in sets.items()}
        for bias in np.arange(-4.0, 8.01, 0.25):
            got = {k: _accept(a, bias, args.margin) for k, a in arrays.items()}
            if all(far <= limit[k] + 1e-9 for k, (_, far) in got.items()):
                total = sum(acc for acc, _ in got.values())
                if best is None or total > best[0] + 1e-9:
                    per = [f"{k[0]:8} {'quiet' if k[1] == 'q' else 'noise'}: accuracy "
                           f"{acc:.3f}, false accepts {far:.3f}" for k, (acc, far) in got.items()]
                    best = (total, weight, float(bias), per)
    if best is None:
        raise SystemExit("no weight and bias keep the false accepts within bounds")
    total, weight, bias, per = best
    margin = args.margin
    final = _head_file(args.output, _fit_head(np.concatenate([Xq, Xn]), np.concatenate([y, y]),
                                              args.C), digest, weight, bias)
    print(f"head: weight {weight} bias {bias:+.2f} (margin {margin:+.2f}) -> {args.output}")
    for line in per:
        print("  out-of-fold train " + line)
    fusion = Fusion(final, weight, bias)
    policy = Policy(margin=margin)
    for path in args.test:
        test = json.loads(path.read_text())
        X = np.load(path.with_suffix(".npy")).astype(np.float32)
        logp = np.stack([final.log_probabilities(x) for x in X])
        for name, vocabulary in vocabularies().items():
            for label, f, lp in (("whisper alone", None, None), ("whisper + head", fusion, logp)):
                acc, far = figures(outcomes(test, name, vocabulary, ref.first_tokens, f, lp),
                                   vocabulary, policy)
                print(f"  {path.name:24} {name:8} {label:15} accuracy {acc:.3f}, false accepts {far:.3f}")
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("read")
    r.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "speech")
    r.add_argument("--split", choices=("train", "dev"), required=True)
    r.add_argument("--noise", type=Path, nargs="*", default=[],
                   help="noise recordings; each clip gets one of them at random")
    r.add_argument("--snr", type=float, default=10.0)
    r.add_argument("--context", type=float, default=WhisperSettings().context_seconds)
    r.add_argument("-o", "--output", type=Path, required=True)
    c = sub.add_parser("choose")
    c.add_argument("train", type=Path)
    c.add_argument("--test", type=Path, nargs="*", default=[])
    c.add_argument("--far", type=float, default=0.01, help="false accepts allowed on train")
    h = sub.add_parser("head")
    h.add_argument("train", type=Path, help="a read of --split train")
    h.add_argument("train_noise", type=Path, help="a read of --split train with --noise")
    h.add_argument("--test", type=Path, nargs="*", default=[])
    h.add_argument("--far", type=float, default=0.01, help="false accepts allowed on train, quiet")
    h.add_argument("--noise-far", type=float, help="... and in noise (default: Whisper's own)")
    h.add_argument("--weights", type=float, nargs="*", default=[1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0])
    h.add_argument("--C", type=float, default=0.003, help="inverse L2 strength")
    h.add_argument("--folds", type=int, default=5)
    h.add_argument("--margin", type=float, default=POLICIES["whisper"].margin,
                   help="the policy's margin (Whisper's own, from `choose`)")
    h.add_argument("-o", "--output", type=Path,
                   default=REPO / "src" / "voicecoach" / "listen" / "models" / HEAD_FILE)
    args = ap.parse_args()
    {"read": read, "choose": choose, "head": head}[args.what](args)


if __name__ == "__main__":
    main()
