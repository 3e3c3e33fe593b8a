"""The examples in docs/cue-scripts.md work as written."""
from __future__ import annotations

import re
import wave

import pytest

from conftest import REPO
from voicecoach.script import load_script
from voicecoach.simulate import simulate

DOC = (REPO / "docs" / "cue-scripts.md").read_text("utf-8")
EXAMPLES = re.findall(r"```yaml\n(.*?)```", DOC, re.S)


def test_the_guide_has_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("n", range(len(EXAMPLES)))
def test_every_example_is_a_valid_script_that_runs(tmp_path, n):
    (tmp_path / "clips").mkdir()
    with wave.open(str(tmp_path / "clips" / "let-go.wav"), "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
        w.writeframes(b"\x00\x01" * 8000)
    path = tmp_path / "example.yaml"
    path.write_text(EXAMPLES[n], encoding="utf-8")
    script = load_script(path)
    events = simulate(script, [(1.0, "go")])
    assert events[-1].state == "finished"


def test_every_key_of_the_format_is_in_the_reference():
    from voicecoach.script import Cue, CueScript, Progression, Repeat, Step, Voice
    reference = DOC.split("## Reference", 1)[1]
    for model in (CueScript, Step, Repeat, Cue, Voice, Progression):
        for field in model.model_fields:
            if field != "path":
                assert f"`{field}`" in reference, (model.__name__, field)


def test_the_documented_check_output_matches_the_tool(tmp_path, capsys):
    from voicecoach.cli import main
    path = tmp_path / "easy.yaml"
    path.write_text(EXAMPLES[0], encoding="utf-8")
    main(["check", str(path)])
    documented = re.search(r"\$ voicecoach check easy.yaml\n(.*)\n", DOC)[1]
    assert capsys.readouterr().out.strip() == documented.replace("easy.yaml", str(path))
