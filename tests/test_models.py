"""Vosk model store: install from zip or directory, download with resume and checksum, all
against a loopback HTTP server started here."""
from __future__ import annotations

import hashlib
import http.server
import json
import threading
import zipfile
from pathlib import Path

import pytest

from voicecoach.cli import main
from voicecoach.models import (ModelError, check_model_dir, download, find_model, install,
                               installed_models)

from listen_support import korean_model_dir

LAYOUT = {"am/final.mdl": b"acoustic model", "conf/model.conf": b"--min-active=200\n",
          "conf/mfcc.conf": b"--sample-frequency=16000\n", "graph/HCLr.fst": b"fst",
          "graph/Gr.fst": b"fst", "README": b"a tiny model-shaped tree for the store's tests\n"}


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECOACH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VOICECOACH_VOSK_MODEL", raising=False)
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
    assert installed_models() == [("vosk-model-small-xx-0.1", "xx", dest)]
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
    """Serves one file; can cut the first response off halfway, and honours Range."""

    def __init__(self, payload: bytes, cut_first: bool):
        self.payload, self.cut_first, self.requests = payload, cut_first, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append(rng)
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                body = outer.payload[start:]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                if rng:
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(outer.payload) - 1}/{len(outer.payload)}")
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
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/model.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _catalogue(tmp_path, monkeypatch, url, sha256):
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps({"vosk-model-small-xx-0.1": {"url": url, "sha256": sha256,
                                                            "language": "xx"}}))
    monkeypatch.setenv("VOICECOACH_MODEL_CATALOGUE", str(path))


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
