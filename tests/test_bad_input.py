"""Hostile but fair input (issue 13, part 4): every refusal is one clear line that says what
is wrong and where; nothing hangs, nothing shows a traceback."""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from conftest import SCRIPTS
from voicecoach.cli import main

STEP = "steps:\n  - name: A\n    duration: 1m\n    speed: {speed}\n"


def refused(capsys, argv, status=(1, 2)) -> str:
    assert main(argv) in status
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()
    return err


@pytest.mark.parametrize("body, where, words", [
    ("title: T\n" + STEP.format(speed="true"), ":5:12:", "not True (YAML reads yes/no"),
    ("title: T\n" + STEP.format(speed="4.8 km/h"), ":5:12:", "write the number alone"),
    ("title: T\nsteps:\n  - repeat: yes\n    steps:\n      - {name: A, duration: 1m, speed: 1}\n",
     ":3:13:", "a whole number"),
    ('title: "\\e[2JHi"\n' + STEP.format(speed=1), ":1:8:", "control character"),
    ('title: "\\u200b\\u200b"\n' + STEP.format(speed=1), ":1:8:", "no visible text"),
    ("title: !!str T\n" + STEP.format(speed=1), ":1:8:", "YAML tag '!!str' is not allowed"),
    ("title: T\n" + STEP.format(speed="!!bool yes"), ":5:12:", "YAML tag '!!bool'"),
    ("title: T\nwake_word: hey there my coach\n" + STEP.format(speed=1), ":2:", "at most three words"),
])
def test_a_script_with_bad_values_is_refused_at_the_value(tmp_path, capsys, body, where, words):
    path = tmp_path / "s.yaml"
    path.write_text(body)
    err = refused(capsys, ["check", str(path)])
    assert f"{path}{where}" in err and words in err


def test_a_script_that_is_no_regular_file_is_refused_without_reading_it(tmp_path, capsys):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(tmp_path / "loop2.yaml")
    (tmp_path / "loop2.yaml").symlink_to(loop)
    assert "is a device or a pipe" in refused(capsys, ["check", "/dev/zero"])
    assert "is a device or a pipe" in refused(capsys, ["check", str(fifo)])
    assert "leads nowhere (or round in a loop)" in refused(capsys, ["check", str(loop)])


def test_audio_that_is_no_sound_file_is_named_for_what_it_is(tmp_path, capsys):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    script = str(SCRIPTS / "backwards-walk.yaml")
    for path, words in [(fifo, "is a device or a pipe"), ("/dev/zero", "is a device or a pipe"),
                        (tmp_path, "is a folder"), (tmp_path / "none.wav", "no such file")]:
        err = refused(capsys, ["transcribe", str(path)])
        assert f"{path}: {words}" in err
        err = refused(capsys, ["run", script, "--input", str(path), "--fast", "--no-journal"])
        assert words in err


def test_nan_and_infinite_samples_are_heard_as_sound_not_as_warnings(tmp_path, capsys, clear_clips):
    data, rate = sf.read(clear_clips["go"], dtype="float32")
    data = np.concatenate([np.zeros(rate // 2, np.float32), data, np.zeros(rate // 2, np.float32)])
    data[100:200] = np.nan
    data[300:310] = np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, data, rate, subtype="FLOAT")
    assert main(["transcribe", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "go" in out and "RuntimeWarning" not in err


def test_outputs_that_cannot_be_written_are_said_before_anything_is_rendered(tmp_path, capsys):
    script = str(SCRIPTS / "backwards-walk.yaml")
    silence = tmp_path / "quiet.wav"
    sf.write(silence, np.zeros(16000, np.float32), 16000)
    run = ["run", script, "--input", str(silence), "--fast", "--no-journal", "-q"]
    assert "does not exist" in refused(capsys, run + ["--log", str(tmp_path / "no" / "l.jsonl")])
    assert "is a folder" in refused(capsys, run + ["--log", str(tmp_path)])
    assert "is a folder" in refused(capsys, run + ["--output", str(tmp_path)])
    # A log that fills up mid-run (/dev/full): a warning, and the session goes on to its summary.
    assert main(run + ["--log", "/dev/full"]) == 0
    err = capsys.readouterr().err
    assert "event log cannot be written" in err and "Traceback" not in err
    assert "Walking backwards" in err


@pytest.mark.parametrize("argv, words", [
    (["simulate", str(SCRIPTS / "backwards-walk.yaml"), "--say", "99999999999999999999:00 go"],
     "a session lasts at most 12 hours"),
    (["track", "/tmp/never.wav", "--say", "99999:00 go"], "a session lasts at most 12 hours"),
])
def test_absurd_times_are_refused_at_once(capsys, argv, words):
    assert words in refused(capsys, argv)


def test_history_takes_any_count(capsys, tmp_path):
    silence = tmp_path / "quiet.wav"
    sf.write(silence, np.zeros(16000, np.float32), 16000)
    assert main(["run", str(SCRIPTS / "backwards-walk.yaml"), "--input", str(silence),
                 "--fast", "-q"]) == 0
    capsys.readouterr()
    assert main(["history", "-n", "99999999999999999999999"]) == 0
    out, err = capsys.readouterr()
    assert "Walking backwards" in out and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["history", "-n", "-3"])
    assert "-3 is below 0" in capsys.readouterr().err


def test_a_header_that_gives_no_sample_rate_is_said_so(tmp_path, capsys, clear_clips):
    import struct
    path = tmp_path / "rate0.wav"
    data, rate = sf.read(clear_clips["go"], dtype="int16")
    sf.write(path, data, rate, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    raw[24:28] = struct.pack("<I", 0)           # the fmt chunk's sample rate
    path.write_bytes(bytes(raw))
    assert "its header gives no sample rate" in refused(capsys, ["transcribe", str(path)])


def test_8_bit_wav_is_heard_as_16_bit_is(tmp_path, capsys, clear_clips):
    data, rate = sf.read(clear_clips["go"])
    sf.write(tmp_path / "go8.wav", data, rate, subtype="PCM_U8")
    assert main(["transcribe", str(tmp_path / "go8.wav")]) == 0
    assert ": go (" in capsys.readouterr().out


def test_a_model_of_dummy_files_is_not_installed(tmp_path, capsys):
    # The right file names with nothing in them must not replace a working engine.
    import zipfile
    archive = tmp_path / "dummy.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, text in [("model.bin", "x"), ("config.json", "{}"), ("tokenizer.json", "{}"),
                           ("vocabulary.json", "[]")]:
            z.writestr(name, text)
    err = refused(capsys, ["models", "install", str(archive)])
    assert "the Whisper model does not load" in err and "nothing was installed" in err
    assert main(["models", "list"]) == 0
    assert "dummy" not in capsys.readouterr().out


def test_render_says_an_output_it_cannot_write_before_rendering(tmp_path, capsys):
    script = str(SCRIPTS / "backwards-walk.yaml")
    assert "is a folder" in refused(capsys, ["render", script, "-o", str(tmp_path)])
    err = refused(capsys, ["render", script, "-o", str(tmp_path / "s.wav"),
                           "--subtitles", str(tmp_path / "no" / "s.vtt")])
    assert "--subtitles" in err and "does not exist" in err


def test_a_broken_alsa_configuration_is_one_clear_line(tmp_path):
    import subprocess
    import sys
    conf = tmp_path / "asound.conf"
    conf.write_text("pcm.!default { type nonsense\n")
    done = subprocess.run([sys.executable, "-m", "voicecoach.cli", "devices"], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, ALSA_CONFIG_PATH=str(conf)))
    assert done.returncode == 2
    assert done.stderr.startswith("voicecoach: the audio system cannot start (")
    assert "ALSA configuration" in done.stderr and "Traceback" not in done.stderr


def test_cue_audio_with_an_endless_name_or_a_symlink_loop_is_located(tmp_path, capsys):
    loop = tmp_path / "loop.wav"
    loop.symlink_to(tmp_path / "loop2.wav")
    (tmp_path / "loop2.wav").symlink_to(loop)
    for ref, words in [("a" * 300 + ".wav", "cannot be looked up (File name too long)"),
                       ("loop.wav", "goes round in a loop")]:
        script = tmp_path / "s.yaml"
        script.write_text(f"title: T\n{STEP.format(speed=1)}    cues:\n"
                          f"      - {{at: 5s, say: hi, audio: {ref}}}\n")
        err = refused(capsys, ["check", str(script)])
        assert f"{script}:7:" in err and words in err and len(err) < 400
