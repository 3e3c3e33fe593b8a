"""Reading untrusted YAML (cue scripts, vocab files) safely, keeping where every value came from.

The YAML is only *composed* into nodes, never constructed into objects: a tag that would build
a Python object is refused, not run. Aliases are expanded under a budget (no "billion laughs"),
nesting is bounded, keys must be unique text. Every problem is a `Problem` with line and column.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError

MAX_BYTES = 1_000_000          # a cue script is text a trainer writes; 1 MB is generous
MAX_VALUES = 100_000           # after alias expansion
MAX_DEPTH = 40

Path_ = tuple[str | int, ...]  # where a value sits in the document: keys and list indexes

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
_TEXT_LIKE = {_CORE + "timestamp", _CORE + "binary", _CORE + "merge", _CORE + "value"}


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        message = " ".join(self.message.split())     # one problem, one line
        return f"{self.file}:{self.line}:{self.col}: {message}"


class ProblemsError(UserError):
    """One or more problems in a file, each with its location."""

    exit_status = 1

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class Document:
    """A YAML document as plain values, plus where each value (and each key) was written."""
    file: str
    value: Any
    value_at: dict[Path_, tuple[int, int]]
    key_at: dict[Path_, tuple[int, int]]

    def where(self, path: Path_, key: bool = False) -> tuple[int, int]:
        """Line and column of the value at `path` (or of its key), else of its nearest parent."""
        table = self.key_at if key else self.value_at
        while path:
            if path in table:
                return table[path]
            if key and path in self.value_at:
                return self.value_at[path]
            path = path[:-1]
        return self.value_at.get((), (1, 1))

    def problem(self, path: Path_, message: str, key: bool = False) -> Problem:
        line, col = self.where(path, key)
        return Problem(self.file, line, col, message)


def read_yaml(path: str | Path, what: str = "file") -> Document:
    """Read one YAML document from `path`; raise ProblemsError describing what is wrong."""
    name = str(path)
    p = Path(path)

    def fail(message: str, line: int = 1, col: int = 1) -> ProblemsError:
        return ProblemsError([Problem(name, line, col, message)])

    try:
        if not p.exists():
            raise fail(f"a symbolic link that leads nowhere (or round in a loop), not a {what}"
                       if p.is_symlink() else f"no such {what}")
        if p.is_dir():
            raise fail(f"is a folder, not a {what}")
        if not p.is_file():     # /dev/zero would never end, a pipe may never come
            raise fail(f"is a device or a pipe, not a {what}")
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise fail(f"{what} is {size / 1e6:.1f} MB; the limit is {MAX_BYTES // 1_000_000} MB")
        with open(p, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise fail(f"cannot read {what}: {e.strerror or e}") from None
    return parse_yaml(data, name, what)


def parse_yaml(data: bytes, name: str = "<text>", what: str = "file") -> Document:
    def fail(message: str, line: int = 1, col: int = 1) -> ProblemsError:
        return ProblemsError([Problem(name, line, col, message)])

    if len(data) > MAX_BYTES:
        raise fail(f"{what} is over {MAX_BYTES // 1_000_000} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line = before.count(b"\n") + 1
        col = e.start - (before.rfind(b"\n") + 1) + 1
        raise fail(f"not UTF-8 text (byte 0x{data[e.start]:02x}); save the {what} as UTF-8",
                   line, col) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise fail(f"contains a NUL character: this is not a text {what}", line)
    if not text.strip() or all(l.strip().startswith("#") or not l.strip()
                               for l in text.splitlines()):
        raise fail(f"{what} is empty")
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        msg = " ".join(x for x in (e.context, e.problem) if x) or "invalid YAML"
        raise fail(f"not valid YAML: {msg}", *(_lc(mark) if mark else (1, 1))) from None
    except yaml.reader.ReaderError as e:
        before = text[: e.position]
        line, col = before.count("\n") + 1, e.position - (before.rfind("\n") + 1) + 1
        raise fail(f"character U+{e.character:04X} is not allowed in YAML text", line, col) from None
    except yaml.YAMLError as e:
        raise fail(f"not valid YAML: {e}") from None
    except RecursionError:
        raise fail(f"nested too deeply (more than {MAX_DEPTH} levels)") from None
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        raise fail(f"{what} is empty")
    if len(nodes) > 1:
        raise fail(f"holds {len(nodes)} YAML documents; a {what} is one document",
                   *_lc(nodes[1].start_mark))
    doc = Document(name, None, {}, {})
    builder = _Builder(doc)
    doc.value = builder.build(nodes[0], (), 0)
    if builder.problems:
        raise ProblemsError(builder.problems)
    return doc


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


def _lc(mark: yaml.Mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.count = 0
        self.problems: list[Problem] = []
        self._scalars = yaml.SafeLoader("")   # only its scalar constructors are used

    def _problem(self, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(self.doc.file, *_lc(node.start_mark), message))

    def build(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            if self.count == MAX_VALUES + 1:
                self._problem(node, f"more than {MAX_VALUES} values (aliases expanding too far)")
            return None
        if depth > MAX_DEPTH:
            self._problem(node, f"nested too deeply (more than {MAX_DEPTH} levels)")
            return None
        self.doc.value_at.setdefault(path, _lc(node.start_mark))
        tag = node.tag or ""
        mark = node.start_mark
        if mark.buffer is not None and mark.buffer[mark.pointer:mark.pointer + 1] == "!":
            # An explicit tag (!!bool yes, !!merge, !!python/...): refused, whatever it is.
            written = mark.buffer[mark.pointer:].split(None, 1)[0] if mark.buffer[mark.pointer:].strip() else "!"
            self._problem(node, f"YAML tag {written!r} is not allowed: write the plain value")
            return None
        if isinstance(node, yaml.ScalarNode):
            if tag == _CORE + "int" and ":" in node.value:
                return node.value       # "1:30" is a time, not YAML 1.1's base-60 integer
            if tag == _CORE + "bool" and node.value.lower() not in ("true", "false"):
                return node.value       # yes/no/on/off are words (YAML 1.2), e.g. command phrases
            if tag in _SCALAR_TAGS:
                try:
                    return self._scalars.construct_object(node, deep=False)
                except (yaml.YAMLError, ValueError, OverflowError):
                    self._problem(node, f"cannot read {node.value!r} as {tag.removeprefix(_CORE)}")
                    return None
            if tag in _TEXT_LIKE:
                return node.value       # dates and the like stay text; the schema decides
            self._problem(node, f"YAML tag {_short(tag)!r} is not allowed: only plain values, "
                                "lists and mappings")
            return None
        if isinstance(node, yaml.SequenceNode):
            if tag != _CORE + "seq":
                self._problem(node, f"YAML tag {_short(tag)!r} is not allowed")
                return None
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            if tag != _CORE + "map":
                self._problem(node, f"YAML tag {_short(tag)!r} is not allowed")
                return None
            out: dict[str, Any] = {}
            for knode, vnode in node.value:
                if not (isinstance(knode, yaml.ScalarNode) and knode.tag in _SCALAR_TAGS | _TEXT_LIKE):
                    self._problem(knode, "a key must be plain text")
                    continue
                if knode.tag == _CORE + "merge":
                    self._problem(knode, "merge keys (<<) are not supported; write the keys out")
                    continue
                key = str(knode.value)
                if key in out:
                    first = self.doc.key_at.get(path + (key,), (0, 0))[0]
                    self._problem(knode, f"duplicate key {key!r} (first given on line {first})")
                    continue
                self.doc.key_at[path + (key,)] = _lc(knode.start_mark)
                out[key] = self.build(vnode, path + (key,), depth + 1)
            return out
        self._problem(node, "unsupported YAML node")
        return None
