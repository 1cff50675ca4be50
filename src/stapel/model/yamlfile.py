"""Read YAML into plain data while remembering the line of every config path."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stapel.errors import ConfigError

_Loader: type[yaml.CSafeLoader] | type[yaml.SafeLoader]
try:
    _Loader = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

ConfigPath = tuple[str | int, ...]


@dataclass
class Located:
    """Data from a YAML file plus the 1-based line of each path in it."""

    file: Path
    data: Any
    lines: dict[ConfigPath, int] = field(default_factory=dict)
    origins: dict[ConfigPath, ConfigPath] = field(default_factory=dict)  # merged path -> where it was written (a contour's override)
    variables: dict[ConfigPath, list[str]] = field(default_factory=dict)  # after interpolate(): ${VAR} names per path
    defaulted: dict[ConfigPath, list[str]] = field(default_factory=dict)  # ... and those whose default was taken
    templates: dict[ConfigPath, str] = field(default_factory=dict)  # services.<s>.env.<K> as written, when it has a ${VAR}
    deferred: set[ConfigPath] = field(default_factory=set)  # ... and those it names what only stapel gives (env/derived.py)

    def written(self, path: ConfigPath) -> ConfigPath:
        """The path as the user wrote it: `contours.stage.components.db.port` for what stage's override merged in."""
        return self.origins.get(path, path)

    def line_of(self, path: ConfigPath) -> int | None:
        """The line of `path`, or of its nearest parent that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def where(self, path: ConfigPath) -> str:
        line = self.line_of(path)
        return f"{self.file.name}:{line}" if line else self.file.name


def dotted(path: ConfigPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_yaml(file: Path) -> Located:
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file", hint="create stapel.yaml at the project root or pass -f PATH") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    except RuntimeError:  # a symlink loop, before Python 3.13
        raise ConfigError(f"{file}: a symlink loop", hint="point it at a real file") from None
    text = _text(file, raw)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        located = Located(file, None)
        located.data = {} if node is None else _build(loader, node, (), located)
        return located
    except yaml.reader.ReaderError as exc:  # a NUL byte or another character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ConfigError(f"{file.name}:{line}: malformed YAML: the character U+{code:04X} is not allowed in YAML text",
                          hint="remove it; is this the right file?") from None
    except yaml.MarkedYAMLError as exc:
        mark, problem = exc.problem_mark or exc.context_mark, exc.problem or exc.context or "malformed YAML"
        if exc.context and exc.context_mark and exc.problem_mark and not text[exc.problem_mark.index:].strip():
            # stopped by the end of the file: what is unclosed is where it opened (a quote, a [ or {)
            mark, problem = exc.context_mark, f"{_opened(exc.context)} that starts here is never closed"
        at = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{file.name}{at}: malformed YAML: {problem}", hint="fix the YAML syntax on that line") from None
    finally:
        loader.dispose()


def _opened(context: str) -> str:
    """PyYAML's "while scanning a quoted scalar" as a user says it: "the quoted string"."""
    what = context.removeprefix("while scanning ").removeprefix("while parsing ").removeprefix("a ").removeprefix("an ")
    return "the " + what.replace("quoted scalar", "quoted string")


def _text(file: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{file.name}:{line}: not UTF-8 text (byte {raw[exc.start]:#04x})",
                          hint="save it as UTF-8; is this the right file?") from None


def _build(loader: Any, node: yaml.Node, path: ConfigPath, located: Located, line: int | None = None) -> Any:
    """`line`: the line of the key this node is the value of (a block mapping's value starts a line later)."""
    located.lines[path] = line or node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        explicit = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor) become plain entries, merged ones first
        merged = len(node.value) - explicit
        result: dict[Any, Any] = {}
        from_merge: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(f"{located.file.name}:{key_node.start_mark.line + 1}: {dotted(path) or 'top level'}: keys must be plain scalars")
            key = key_node.value  # as written: YAML 1.1 would read NO, ON or NULL as booleans and null
            if index < merged:
                if key not in result:
                    from_merge.add(key)
                    result[key] = _build(loader, value_node, path + (key,), located, key_node.start_mark.line + 1)
                continue
            if key in from_merge:
                from_merge.discard(key)  # an explicit key overrides a merged one
            elif key in result:
                raise ConfigError(
                    f"{located.file.name}:{key_node.start_mark.line + 1}: {dotted(path + (key,))}: duplicate key",
                    hint="each key may appear once",
                )
            result[key] = _build(loader, value_node, path + (key,), located, key_node.start_mark.line + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, path + (i,), located) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
