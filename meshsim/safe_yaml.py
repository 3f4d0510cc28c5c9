"""Reading a YAML file someone handed you: bounded in size, shape and cost, data only.

Limits, checked while reading and before anything is built from the file:

- ``MAX_FILE_BYTES``: a larger file is refused unread;
- text must be UTF-8 without NUL bytes (a binary file is named as such, with its line);
- ``MAX_DEPTH`` levels of nesting (PyYAML composes recursively; deeper would overflow);
- ``MAX_ALIASES`` aliases, and ``MAX_NODES`` nodes once aliases are expanded, so an alias
  bomb ("billion laughs") is refused before anything walks it.

Only YAML's safe types are built (no Python objects). Numbers like ``1e6`` read as floats,
as in YAML 1.2 (PyYAML's YAML 1.1 would read them as strings).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from meshsim.errors import ScenarioError

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 1000
MAX_NODES = 200_000


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a nesting-depth cap and an alias cap."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_ALIASES} aliases", mark
                )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def expanded_size(node: yaml.Node, limit: int = MAX_NODES) -> int:
    """Nodes in the document once every alias is expanded (counted, not expanded)."""
    sizes: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        if id(n) in sizes:
            return sizes[id(n)]
        total = 1
        if isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            total += sum(size(item) for item in n.value)
        sizes[id(n)] = total = min(total, limit + 1)
        return total

    return size(node)  # depth is bounded by MAX_DEPTH, so recursion is safe


def read_text(path: str | Path, limit: int = MAX_FILE_BYTES) -> str:
    """A file's text; raises a one-line ScenarioError for unreadable, huge or binary files."""
    file = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror or exc}", file) from None
    if len(data) > limit:
        raise ScenarioError(f"larger than the input limit of {limit} bytes", file)
    nul = data.find(b"\0")
    if nul >= 0:
        raise ScenarioError("binary file (NUL byte), not text", file, _line_at(data, nul))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _line_at(data, exc.start)
        raise ScenarioError(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", file, line) from None


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def load(text: str, file: str) -> tuple[Any, yaml.Node | None]:
    """(data, node) of one YAML document; raises ScenarioError (one line, with the line)."""
    try:
        loader = BoundedLoader(text)  # checks the characters already
    except yaml.YAMLError as exc:
        raise yaml_error(exc, file, text) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        if expanded_size(node) > MAX_NODES:
            raise ScenarioError(f"more than {MAX_NODES} values once aliases are expanded", file, 1)
        return loader.construct_document(node), node
    except yaml.YAMLError as exc:
        raise yaml_error(exc, file, text) from None
    finally:
        loader.dispose()


def load_value(text: str, option: str, field: str) -> Any:
    """A short YAML value given on the command line, e.g. the VALUE of ``--set PATH=VALUE``;
    raises a ScenarioError naming the option and the field."""
    try:
        data, _ = load(text, option)
    except ScenarioError as exc:
        raise ScenarioError(f"value {text!r}: {exc.message}", option, None, field) from None
    return data


def yaml_error(exc: yaml.YAMLError, file: str, text: str = "") -> ScenarioError:
    """A PyYAML error as one located line."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None)
    if isinstance(exc, yaml.reader.ReaderError):
        problem = f"unacceptable character #x{exc.character:04x}"
        line = text.count("\n", 0, exc.position) + 1
    return ScenarioError(f"YAML syntax error: {problem or exc}", file, line)
