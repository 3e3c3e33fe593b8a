"""A small classifier head: a pooled feature vector -> probabilities of the words it knows.

Both learned parts of the listener are one of these on top of a pretrained model's features:
the command classifier on Google's speech embedding (learned.py) and the head on Whisper's
encoder output (whisper.py). A head is trained by a tool (tools/train_command_model.py,
tools/calibrate_whisper.py) and shipped as plain numpy arrays in an .npz: `labels` (the
empty label "" first: none of the words), `mean`/`scale` (feature standardisation), `layers`
and `w0`, `b0`, ... (logistic regression, or an MLP with ReLU between layers), and any
number of named scalars and strings the user of the head reads (`params`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

NONE = ""            # the label for "none of the words the head knows"
_ARRAYS = {"labels", "mean", "scale", "layers"}


class Head:
    def __init__(self, path: str | Path):
        with np.load(path, allow_pickle=False) as z:
            self.labels: tuple[str, ...] = tuple(str(s) for s in z["labels"])
            self._mean, self._scale = z["mean"], z["scale"]
            n = int(z["layers"])
            self._layers = [(z[f"w{i}"], z[f"b{i}"]) for i in range(n)]
            layer_keys = {f"{k}{i}" for i in range(n) for k in "wb"}
            self.params: dict[str, float | str] = {
                k: (str(z[k]) if z[k].dtype.kind in "US" else float(z[k]))
                for k in z.files if k not in _ARRAYS | layer_keys}
        if self.labels[:1] != (NONE,):
            raise ValueError(f"{path}: a head's first label must be none (\"\")")

    @property
    def words(self) -> set[str]:
        return set(self.labels) - {NONE}

    def log_probabilities(self, features: np.ndarray) -> np.ndarray:
        h = (features - self._mean) / self._scale
        for i, (w, b) in enumerate(self._layers):
            h = h @ w + b
            if i < len(self._layers) - 1:
                h = np.maximum(h, 0.0)
        h = h - h.max()
        return h - np.log(np.exp(h).sum())

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return np.exp(self.log_probabilities(features))


def save_head(path: Path, labels, mean: np.ndarray, scale: np.ndarray,
              weights: list[tuple[np.ndarray, np.ndarray]], **params) -> None:
    """Write a head (see the module docstring); `params`: floats or strings."""
    if list(labels)[:1] != [NONE]:
        raise ValueError("a head's first label must be none (\"\")")
    arrays = {"labels": np.array(labels), "mean": np.asarray(mean, np.float32),
              "scale": np.asarray(scale, np.float32), "layers": np.int32(len(weights))}
    for i, (w, b) in enumerate(weights):
        arrays[f"w{i}"], arrays[f"b{i}"] = np.asarray(w, np.float32), np.asarray(b, np.float32)
    for k, v in params.items():
        arrays[k] = np.array(v) if isinstance(v, str) else np.float32(v)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
