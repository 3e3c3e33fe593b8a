"""Train the learned command classifier (src/voicecoach/listen/models/command_model.npz).

    python tools/train_command_model.py                 # train on all dev data, write the model
    python tools/train_command_model.py --cv 5          # speaker-grouped cross-validation first
    python tools/train_command_model.py --no-bike ...   # leave exercise_bike_a out of training

Data: ../shared/data/speech (Google Speech Commands v0.02 test split, CC-BY-4.0, Warden 2018;
cards sentences from Debian pocketsphinx-testdata), read in place, never copied; plus words
spoken by espeak-ng voices with --espeak (measured: they cost accuracy on real speakers).

Training examples come out of the real listener: every recording (speed- and gain-perturbed)
is played inside a continuous stream, in silence or in background noise at a random SNR, just
as `voicecoach bench listen` does; the listener's front end (noise suppression, VAD,
end-pointing) finds the utterances, and the window the classifier would see at the decision
is recorded with the label of the recording it overlaps (a word, or "none" for other words,
sentences and noise). The classifier (logistic regression on pooled speech embeddings, see
listen/learned.py) is trained with scikit-learn and stored as plain numpy arrays.

--cv K: the recordings are split into K folds by speaker (no speaker on both sides); a model
is trained without each fold and the fold is run through `bench.run` (the streaming
benchmark) in silence and with exercise_bike_a at 10 dB. The pooled figures are an honest
estimate for new speakers; the shipped model scored on the dev data it was trained on is not.

Needs scikit-learn (training only): pip install scikit-learn. On one core: about 4 min to
collect the examples (cached in --cache), seconds to train, about 4 min per --cv setting.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from voicecoach.events import Rejected
from voicecoach.listen import bench, learned
from voicecoach.listen.audio import ENGINE_RATE, load_mono_16k
from voicecoach.listen.engines import PocketSphinxEngine, PocketSphinxSettings
from voicecoach.listen.learned import (
    NONE,
    TAIL_DB,
    CommandModel,
    LearnedEngine,
    SpeechEmbedding,
    pool,
)
from voicecoach.listen.head import save_head
from voicecoach.listen.listener import Listener
from voicecoach.listen.policy import NOTHING_RECOGNISED
from voicecoach.listen.scoring import COMMAND_SECONDS, Scores, Utterance
from voicecoach.listen.vocabfile import load_vocab_file
from voicecoach.vocabulary import Vocabulary

sys.path.insert(0, str(REPO / "tools"))
from bench_default_vocabulary import as_vocabulary

WORDS = ("stop", "go", "up", "down", "yes", "no", "on", "off", "left", "right")
LABELS = (NONE,) + WORDS
WINDOW = 1.6            # seconds of audio before the decision the classifier looks at
NOISES = ("exercise_bike_a", "doing_the_dishes", "running_tap", "white_noise", "pink_noise")
OUT = REPO / "src" / "voicecoach" / "listen" / "models" / "command_model.npz"

# espeak-ng voices (no MBROLA voices: their licence is non-commercial).
ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc",
                 "en-gb-x-gbclan", "en-gb-x-gbcwmd")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2", "klatt3")
# Other words for the "none" class: everyday words, near misses of the commands, and short
# phrases a trainer or a neighbour might say.
ESPEAK_OTHER = ["the", "a", "an", "and", "of", "to", "in", "is", "it", "that", "was", "for", "with", "as", "at", "be", "by", "this", "from", "or", "have", "not", "but", "what", "all", "were", "when", "we", "there", "can", "your", "which", "their", "said", "if", "do", "will", "each", "about", "how", "up-to", "many", "then", "them", "these", "so", "some", "her", "would", "make", "like", "him", "into", "time", "has", "look", "two", "more", "write", "see", "number", "way", "could", "people", "my", "than", "first", "water", "been", "call", "who", "oil", "its", "now", "find", "long", "day", "did", "get", "come", "made", "may", "part", "over", "new", "sound", "take", "only", "little", "work", "know", "place", "year", "live", "me", "back", "give", "most", "very", "after", "thing", "our", "just", "name", "good", "sentence", "man", "think", "say", "great", "where", "help", "through", "much", "before", "line", "too", "mean", "old", "any", "same", "tell", "boy", "follow", "came", "want", "show", "also", "around", "form", "three", "small", "set", "put", "end", "does", "another", "well", "large", "must", "big", "even", "such", "because", "turn", "here", "why", "ask", "went", "men", "read", "need", "land", "different", "home", "us", "move", "try", "kind", "hand", "picture", "again", "change", "play", "spell", "air", "away", "animal", "house", "point", "page", "letter", "mother", "answer", "found", "study", "still", "learn", "should", "america", "world", "top", "shop", "drop", "step", "slop", "got", "ago", "goat", "low", "owe", "ups", "cup", "pup", "town", "gown", "drown", "dune", "yet", "yell", "guess", "nose", "know", "now", "gnaw", "toe", "own", "upon", "often", "of", "left", "lift", "loft", "laughed", "light", "ride", "write", "bright", "fight", "night", "stopped", "going", "downs", "lefty", "rights", "yeah", "nope", "okay", "faster", "slower", "pause", "wait", "next", "skip", "repeat", "status", "finish", "begin", "resume", "continue", "hello", "sorry", "thanks", "what's", "that", "hold", "on", "speed", "up", "slow", "down", "how", "long", "time", "left", "say", "again", "i'm", "done", "let's", "go", "good", "job", "keep", "going", "almost", "there", "nice", "one", "breathe", "in", "breathe", "out", "one", "more", "minute", "water", "break"]


@dataclass
class Clip:
    path: Path
    label: str          # a word of WORDS, or NONE
    speaker: str
    synthetic: bool = False


# --- data -------------------------------------------------------------------------------

def read_clips(data: Path) -> list[Clip]:
    clips = []
    for folder in ("commands-dev", "negatives-dev"):
        with open(data / folder / "manifest.csv", newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                label = r["word"] if r["word"] in WORDS else NONE
                speaker = r.get("speaker") or r["path"]
                clips.append(Clip(data / folder / r["path"], label, speaker))
    return clips


def espeak_clips(cache: Path, per_word: int, other: int, seed: int = 1) -> list[Clip]:
    """Commands and other words spoken by random espeak-ng voices (cached WAVs)."""
    if shutil.which("espeak-ng") is None:
        print("espeak-ng not found: no synthetic speakers", file=sys.stderr)
        return []
    rng = np.random.default_rng(seed)
    folder = cache / "espeak"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(w, w) for w in WORDS for _ in range(per_word)]
    jobs += [(w.replace("-", " "), NONE) for w in rng.choice(ESPEAK_OTHER, other)]
    clips = []
    for i, (text, label) in enumerate(jobs):
        voice = f"{rng.choice(ESPEAK_VOICES)}+{rng.choice(ESPEAK_VARIANTS)}"
        speed, pitch = int(rng.integers(110, 210)), int(rng.integers(15, 85))
        path = folder / f"{i:05d}-{hashlib.sha1(f'{text}{voice}{speed}{pitch}'.encode()).hexdigest()[:10]}.wav"
        if not path.exists():
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                            "-w", str(path), text], check=True, capture_output=True)
        clips.append(Clip(path, label, f"espeak-{voice}", synthetic=True))
    return clips


def load_noises(data: Path, names) -> dict[str, np.ndarray]:
    return {n: load_mono_16k(data / "noise-dev" / f"{n}.wav") for n in names}


def perturb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Speed (0.88-1.12, pitch moves with it) and gain (-12..+6 dB)."""
    from scipy.signal import resample
    speed = rng.uniform(0.88, 1.12)
    x = resample(x, int(len(x) / speed)).astype(np.float32)
    x *= 10 ** (rng.uniform(-12, 6) / 20)
    peak = np.abs(x).max()
    return x / peak * 0.99 if peak > 0.99 else x


# --- examples from the streaming listener -------------------------------------------------

class WindowRecorder:
    """An engine that decides nothing and records the classifier's window per utterance."""
    name = "recorder"
    speculative = False
    tail_db = TAIL_DB     # as the learned engine for a vocabulary of known words
    max_utterance = COMMAND_SECONDS

    def __init__(self, window: float):
        self.context_seconds = window
        self.n = int(window * ENGINE_RATE)
        self.windows: list[np.ndarray] = []

    def wait_ready(self): pass
    def begin(self): pass
    def forget(self): pass
    def accept(self, pcm16: bytes): pass
    def partial(self): return ""

    def score(self, utterance: Utterance) -> Scores:
        x = utterance.audio
        if len(x) < self.n:
            x = np.concatenate([np.zeros(self.n - len(x), np.int16), x])
        self.windows.append(x[-self.n:].copy())
        return Scores({}, 0.0)


def speech_span(x: np.ndarray) -> tuple[float, float]:
    n = len(x) // 160
    level = 10 * np.log10(np.mean(x[:n * 160].reshape(n, 160) ** 2, axis=1) + 1e-12)
    loud = np.nonzero(level > level.max() - 30)[0]
    return loud[0] * 0.01, (loud[-1] + 1) * 0.01


def stream_examples(clips: list[Clip], ids: list[int], noise: np.ndarray | None, snr_range,
                    rng: np.random.Generator, vocabulary: Vocabulary, embed: SpeechEmbedding):
    """One continuous stream of the clips (perturbed, shuffled, 1-2 s apart), through the
    listener; returns (embeddings, label, clip id) per utterance the classifier would judge."""
    order = list(rng.permutation(ids))
    audio = [perturb(load_mono_16k(clips[i].path), rng) for i in order]
    gaps = [int(rng.uniform(1.0, 2.0) * ENGINE_RATE) for _ in range(len(order) + 1)]
    stream, starts = bench.lay_out(audio, gaps)
    pos = len(stream)
    if noise is not None:
        g = np.empty(pos, np.float32)
        noise_rms = np.sqrt(np.mean(noise ** 2)) + 1e-12
        prev = None
        for i, (s, x) in enumerate(zip(starts, audio)):
            gain = bench.active_rms(x) / noise_rms / 10 ** (rng.uniform(*snr_range) / 20)
            a = s - gaps[i]
            g[a:s] = np.linspace(gain if prev is None else prev, gain, s - a)
            g[s:s + len(x)] = gain
            prev = gain
        g[starts[-1] + len(audio[-1]):] = prev
        offset = int(rng.integers(0, len(noise)))
        reps = int(np.ceil((pos + offset) / len(noise)))
        stream = np.clip(stream + np.tile(noise, reps)[offset:offset + pos] * g, -1, 1)
    recorder = WindowRecorder(WINDOW)
    listener = Listener(vocabulary, recorder)
    events = []
    for i in range(0, len(stream), bench.CHUNK):
        events += listener.feed(stream[i:i + bench.CHUNK])
    events += listener.finish()
    # Every utterance the recorder scored comes back as "nothing recognised" (too short or too
    # long ones are never scored, nor classified).
    rejected = [e for e in events if isinstance(e, Rejected) and e.reason == NOTHING_RECOGNISED]
    assert len(rejected) == len(recorder.windows)
    spans = [(s / ENGINE_RATE + a, s / ENGINE_RATE + b)
             for s, (a, b) in ((s, speech_span(x)) for s, x in zip(starts, audio))]
    out = []
    for e, w in zip(rejected, recorder.windows):
        hit = [k for k, (a, b) in enumerate(spans) if e.t_start < b and e.t_end > a]
        k = hit[0] if hit else int(np.argmin([abs(a - e.t_start) for a, _ in spans]))
        label = clips[order[k]].label if hit else NONE
        out.append((embed(w), LABELS.index(label), order[k]))
    return out


def extract(clips, passes: list[tuple[str | None, tuple[float, float]]], noises, seed, cache: Path,
            tag: str):
    """Embeddings of every pass (cached per pass)."""
    vocabulary = load_vocab_file(REPO / "src" / "voicecoach" / "listen" / "speech_commands.yaml")
    embed = SpeechEmbedding()
    key = hashlib.sha1(json.dumps([str(c.path) for c in clips]).encode()).hexdigest()[:8]
    E, y, ids = [], [], []
    for n, (noise_name, snr) in enumerate(passes):
        f = cache / f"{tag}-{key}-{seed}-{n}-{noise_name}-{snr[0]}-{snr[1]}-{WINDOW}-0.12-{TAIL_DB}.npz"
        if not f.exists():
            rng = np.random.default_rng([seed, n])
            ex = stream_examples(clips, list(range(len(clips))),
                                 None if noise_name is None else noises[noise_name], snr, rng,
                                 vocabulary, embed)
            np.savez(f, E=np.stack([e for e, _, _ in ex]), y=np.array([l for _, l, _ in ex]),
                     ids=np.array([i for _, _, i in ex]))
            print(f"  pass {n}: {noise_name or 'silence'} {snr}: {len(ex)} utterances", flush=True)
        z = np.load(f)
        E.append(z["E"]), y.append(z["y"]), ids.append(z["ids"])
    return np.concatenate(E), np.concatenate(y), np.concatenate(ids)


def default_passes(no_bike: bool, repeats: int):
    noises = [n for n in NOISES if not (no_bike and n == "exercise_bike_a")]
    passes = [(None, (0, 0))] * (2 * repeats)
    for r in range(repeats):
        for n in noises:
            passes.append((n, (0, 20)))
    return passes


# --- classifier ---------------------------------------------------------------------------

def train(E, y, hidden: int, C: float, seed: int = 0):
    """Logistic regression (hidden=0, the default: measured best) or a one-layer MLP."""
    X = np.stack([pool(e) for e in E])
    mean, scale = X.mean(0), X.std(0) + 1e-6
    if hidden:
        from sklearn.neural_network import MLPClassifier
        clf = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=1 / C, max_iter=300,
                            random_state=seed).fit((X - mean) / scale, y)
        weights = list(zip(clf.coefs_, clf.intercepts_))
    else:
        from sklearn.linear_model import LogisticRegression
        clf = LogisticRegression(C=C, max_iter=3000).fit((X - mean) / scale, y)
        weights = [(clf.coef_.T, clf.intercept_)]
    assert list(clf.classes_) == list(range(len(LABELS))), clf.classes_
    return {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32),
            "weights": [(w.astype(np.float32), b.astype(np.float32)) for w, b in weights]}


def save(model, path: Path, engine_weight: float, none_bias: float):
    save_head(path, LABELS, model["mean"], model["scale"], model["weights"], window=WINDOW,
              engine_weight=engine_weight, none_bias=none_bias)


def bench_fold(model_path: Path, commands, negatives, noise, none_bias: float,
               add_margins: list[float] = ()):
    """The fold's clips through the streaming benchmark, in silence and in the bike noise:
    with the ten words as the vocabulary, and (for each add margin) with the default one."""
    vocabulary = load_vocab_file(REPO / "src" / "voicecoach" / "listen" / "speech_commands.yaml")
    model = CommandModel(model_path)
    # As make_engine builds it for a vocabulary of known words: the plain grammar beside.
    inner = PocketSphinxEngine(vocabulary, PocketSphinxSettings(competitors=0))
    setups = {"": (vocabulary, LearnedEngine(vocabulary, model, inner, none_bias=none_bias),
                   commands, negatives)}
    default = Vocabulary.default("en")
    for margin in add_margins:
        default_inner = PocketSphinxEngine(default, PocketSphinxSettings())
        setups[f"default-add{margin:g}"] = (
            default, LearnedEngine(default, model, default_inner, none_bias=none_bias,
                                       add_margin=None if margin < 0 else margin),
            *as_vocabulary(default, commands, negatives))
    out = {}
    for tag, (vocab, recognizer, cmds, negs) in setups.items():
        for name, (n, snr) in {"silence": (None, None), "bike10": (noise, 10)}.items():
            r = bench.run(cmds, negs, lambda: Listener(vocab, recognizer), n, snr)
            out[f"{tag}-{name}" if tag else name] = r
    return out


def cross_validate(clips, real_ids, E, y, ids, args, noises):
    from sklearn.model_selection import GroupKFold
    speakers = np.array([clips[i].speaker for i in real_ids])
    folds = GroupKFold(args.cv).split(real_ids, groups=speakers)
    totals = {}
    for k, (_, test) in enumerate(folds):
        test_ids = {int(real_ids[i]) for i in test}
        train_mask = np.array([int(i) not in test_ids for i in ids])
        model = train(E[train_mask], y[train_mask], args.hidden, args.C)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.npz"
            save(model, path, args.engine_weight, args.none_bias)
            cmds = [bench.Clip(clips[i].path, clips[i].label, True) for i in sorted(test_ids) if clips[i].label]
            negs = [bench.Clip(clips[i].path, "none", False) for i in sorted(test_ids) if not clips[i].label]
            for t in args.none_biases:
                res = bench_fold(path, cmds, negs, noises["exercise_bike_a"], t, args.add_margins)
                for cond, r in res.items():
                    acc = totals.setdefault((t, cond), {"correct": 0, "commands": 0, "fa": 0,
                                                        "negatives": 0, "cpu": 0, "sec": 0,
                                                        "p50": [], "p95": []})
                    acc["correct"] += round(r["accuracy"] * r["commands"])
                    acc["commands"] += r["commands"]
                    acc["fa"] += round(r["false_accept_rate"] * r["negatives"])
                    acc["negatives"] += r["negatives"]
                    acc["p50"].append(r["latency_ms_p50"])    # per-fold percentiles only
                    acc["p95"].append(r["latency_ms_p95"])
                    acc["cpu"] += r["cpu_seconds"]
                    acc["sec"] += r["audio_seconds"]
                    print(f"  fold {k} none_bias {t} {cond}: acc {r['accuracy']:.3f} far "
                          f"{r['false_accept_rate']:.3f} p50 {r['latency_ms_p50']} p95 "
                          f"{r['latency_ms_p95']}", flush=True)
    print("cross-validation (pooled over folds):")
    for (t, cond), a in sorted(totals.items()):
        print(json.dumps({"none_bias": t, "condition": cond,
                          "accuracy": round(a["correct"] / a["commands"], 3),
                          "false_accept_rate": round(a["fa"] / a["negatives"], 3),
                          "latency_ms_p50_mean_of_folds": round(float(np.mean(a["p50"])), 1),
                          "latency_ms_p95_max_of_folds": round(float(np.max(a["p95"])), 1),
                          "rtf": round(a["cpu"] / a["sec"], 4)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "speech")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "voicecoach-command-model")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--no-bike", action="store_true", help="leave exercise_bike_a out of training")
    ap.add_argument("--espeak", action="store_true",
                    help="add espeak-ng speakers (measured: they lowered cross-validated accuracy)")
    ap.add_argument("--espeak-per-word", type=int, default=20)
    ap.add_argument("--espeak-other", type=int, default=0,
                    help="other words by espeak-ng as \"none\" (measured: near misses such as \"yeah\" cost accuracy)")
    ap.add_argument("--repeats", type=int, default=2, help="passes over the data per condition")
    ap.add_argument("--hidden", type=int, default=0, help="hidden units (0: logistic regression)")
    ap.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    ap.add_argument("--engine-weight", type=float, default=2.0,
                    help="log-score added to the word the grammar engine heard")
    ap.add_argument("--none-bias", type=float, default=1.5,
                    help="log-score added to 'none' (higher: fewer false accepts)")
    ap.add_argument("--none-biases", type=float, nargs="*", help="none biases to report in --cv")
    ap.add_argument("--add-margins", type=float, nargs="*", default=[],
                    help="in --cv, also bench the default vocabulary with these add margins "
                         "(learned.ADD_MARGIN; negative: veto only)")
    ap.add_argument("--cv", type=int, default=0, help="speaker-grouped folds (0: none)")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tail-db", type=float, help="experiment: override learned.TAIL_DB (0: off)")
    args = ap.parse_args()
    global TAIL_DB
    if args.tail_db is not None:
        TAIL_DB = learned.TAIL_DB = WindowRecorder.tail_db = args.tail_db or None
    args.none_biases = args.none_biases or [args.none_bias]
    args.cache.mkdir(parents=True, exist_ok=True)

    real = read_clips(args.data)
    synth = [] if not args.espeak else espeak_clips(args.cache, args.espeak_per_word, args.espeak_other)
    clips = real + synth
    noises = load_noises(args.data, NOISES)
    passes = default_passes(args.no_bike, args.repeats)
    print(f"{len(real)} recordings, {len(synth)} synthetic; {len(passes)} passes", flush=True)
    E, y, ids = extract(clips, passes, noises, args.seed, args.cache, "ex")
    print(f"{len(y)} examples; per label: {np.bincount(y, minlength=len(LABELS)).tolist()}", flush=True)
    real_ids = np.arange(len(real))
    if args.cv:
        cross_validate(clips, real_ids, E, y, ids, args, noises)
    if not args.no_save:
        save(train(E, y, args.hidden, args.C, args.seed), args.out, args.engine_weight, args.none_bias)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
