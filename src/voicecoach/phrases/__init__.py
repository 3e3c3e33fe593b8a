"""What the coach itself says, per language: phrase templates, speeds and spoken durations."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml


class PhraseBook:
    def __init__(self, language: str = "en") -> None:
        self.language = language.split("-")[0].lower()
        self._table = _load(self.language)

    def __call__(self, key: str, **values: object) -> str:
        return self._table[key].format(**values)

    def has(self, key: str) -> bool:
        return key in self._table

    def keys(self) -> set[str]:
        return set(self._table)

    def speed(self, value: float, units: str) -> str:
        """1.0 -> '1 mile per hour'; 1.25 -> '1.3 miles per hour' (one decimal, as a display)."""
        v = round(value, 1)
        text = f"{v:g}"
        return self(f"{units}_one" if v == 1 else units, value=text)

    def duration(self, seconds: float) -> str:
        """Spoken length: '2 minutes 30 seconds', '1 hour 5 minutes', '45 seconds'."""
        s = max(0, int(round(seconds)))
        h, rest = divmod(s, 3600)
        m, sec = divmod(rest, 60)
        parts = []
        for n, unit in ((h, "hours"), (m, "minutes"), (sec, "seconds")):
            if n:
                parts.append(self(f"{unit}_one") if n == 1 else self(unit, n=n))
        if h:                       # nobody needs the seconds of an hour-long wait
            parts = parts[:2]
        return self("and").join(parts) if parts else self("seconds", n=0)

    def listing(self, items: list[str]) -> str:
        return self("list_sep").join(items)


@lru_cache(maxsize=None)
def _load(language: str) -> dict[str, str]:
    folder = resources.files("voicecoach.phrases")
    name = f"{language}.yaml" if folder.joinpath(f"{language}.yaml").is_file() else "en.yaml"
    return {str(k): str(v) for k, v in yaml.safe_load(folder.joinpath(name).read_text("utf-8")).items()}


def available_languages() -> list[str]:
    return sorted(f.name.removesuffix(".yaml") for f in resources.files("voicecoach.phrases").iterdir()
                  if f.name.endswith(".yaml"))
