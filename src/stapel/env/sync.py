"""`stapel env sync`: create or update every .env from its example.

Each file follows its example (order, comments, blank lines) with the values it already had; keys the
example lacks are kept at the end. Missing values are asked for (default), or taken from the example
with secrets generated (--non-interactive); =overwrite resets values to the example's but keeps existing
secrets. Every file's new text is computed first, then they are written: 0600, atomically. No secret
value is ever printed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stapel import envdoc
from stapel.env import envfiles
from stapel.env.envfiles import EnvPair, Loaded
from stapel.env.secrets import generate, strip_marker
from stapel.envdoc import Chunk, Doc
from stapel.errors import ConfigError
from stapel.gitignore import keep_out_of_git

NOT_A_TERMINAL = "env sync: stdin is not a terminal; run stapel env sync --non-interactive"
INPUT_ENDED = "env sync: input ended before every value was entered; nothing was written"
TRAILER = "# not in {example}: kept by stapel env sync"
KEPT_SECRETS = "secrets are never replaced: a new password would lock you out of data made with the old one"


@dataclass(frozen=True)
class Question:
    """One missing value to ask for; the answer '' takes the default (or generates a secret)."""

    file: str  # the .env, as shown
    example: str
    key: str
    default: str  # the example's value
    comment: str
    hidden: bool  # a secret: not echoed, its default not shown
    generates: bool  # Enter generates one

    def text(self) -> str:
        if self.generates:
            hint = "hidden; Enter generates one"
        elif self.hidden:
            hint = "hidden; Enter takes the example's value" if self.default else "hidden; Enter leaves it empty"
        else:
            hint = f"default: {self.default}"
        return f"{self.key} [{hint}]{f' ({self.comment})' if self.comment else ''}: "


Prompt = Callable[[Question], str]


@dataclass
class Plan:
    """What one .env becomes."""

    pair: EnvPair
    text: str = ""
    values: dict[str, str] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)  # +KEY or ~KEY, maybe with (generated) or (from FILE)
    generated: int = 0
    agreed: list[str] = field(default_factory=list)  # KEY from FILE
    extras: list[str] = field(default_factory=list)
    kept_secrets: list[str] = field(default_factory=list)


def sync(project: envfiles.Project, mode: str, prompt: Prompt | None = None) -> list[str]:
    """Sync every pair (mode: ask, keep or overwrite) and return the report, one line per file or note."""
    loaded = envfiles.load(project)
    if loaded.problems:
        raise ConfigError(loaded.problems[0], problems=loaded.problems[1:])
    if not loaded.pairs:
        return ["nothing to sync: no env.example or .env.example under the project (or list them in env.files)"]
    planner = Planner(loaded, mode, prompt or TerminalPrompt())
    plans = [planner.plan(pair) for pair in loaded.pairs]
    lines = [line for plan in plans for line in _apply(project, plan)]
    return lines + keep_out_of_git([pair.pair.env for pair in loaded.pairs], project.root, (project.root / ".local",))


class Planner:
    """Computes each file's new text. A value an `agree:` group shares comes from a file that has it."""

    def __init__(self, loaded: Loaded, mode: str, prompt: Prompt):
        self.loaded, self.mode, self.prompt = loaded, mode, prompt
        project = loaded.project
        self.groups = [(g.keys, envfiles.agree_files(project, g, loaded.pairs)) for g in project.block.agree.values()]
        self.known: dict[Path, dict[str, str]] = {}  # what each file of a group holds (after its sync, once planned)
        for path in {path for _, files in self.groups for path in files}:
            doc = envdoc.read_doc(path, path.name)[0] if path.is_file() else None
            self.known[path] = doc.values() if doc else {}

    def plan(self, pair: EnvPair) -> Plan:
        plan = Plan(pair)
        env = pair.env
        current = env.last() if env else {}
        parts = []
        for index, chunk in enumerate(pair.example.chunks):
            if chunk.key is None:
                parts.append(_line(chunk.head + chunk.body))
            else:
                existing = env.chunks[current[chunk.key]] if env and chunk.key in current else None
                parts.append(chunk.head + self._line_of(plan, index, chunk.key, existing))
        parts += self._extras(plan, env, current)
        plan.text = "".join(parts)
        self.known[pair.pair.env] = plan.values
        return plan

    def _line_of(self, plan: Plan, index: int, key: str, existing: Chunk | None) -> str:
        """The line of `key` (the example's chunk `index`) in the new file; what changed goes into the plan."""
        if existing is not None and self._keeps(plan, index, key, existing):
            plan.values[key] = existing.value or ""
            return _line(existing.body)
        value, line, how = self._fresh(plan.pair, index, key)
        plan.values[key] = value
        plan.generated += how == "generated"
        if how.startswith("from "):
            plan.agreed.append(f"{key} {how}")
        if existing is None or (existing.value or "") != value:
            plan.changes.append(f"{'+' if existing is None else '~'}{key}{f' ({how})' if how else ''}")
        return line

    def _keeps(self, plan: Plan, index: int, key: str, existing: Chunk) -> bool:
        """Whether the existing line stays; =overwrite keeps only secrets (and notes those that differ)."""
        default = plan.pair.example.chunks[index].value or ""
        spec = self.loaded.secrets.generated.get(key)
        if spec and not existing.value:  # an empty generated secret counts as missing
            return False
        if self.mode != "overwrite":
            return True
        if key not in self.loaded.secrets or not existing.value:
            return False
        if existing.value != default or (spec and not default):
            plan.kept_secrets.append(key)
        return True

    def _fresh(self, pair: EnvPair, index: int, key: str) -> tuple[str, str, str]:
        """(value, line, how) of a key without a kept value: agreed ("from FILE"), answered, generated, or the example's."""
        example = pair.example.chunks[index]
        default = example.value or ""
        agreed = self._agreed(pair, key)
        if agreed:
            return agreed[0], envdoc.key_line(example, key, agreed[0]), f"from {agreed[1]}"
        answer = self._ask(pair, index, key) if self.mode == "ask" else ""
        if answer:
            return answer, envdoc.key_line(example, key, answer), ""
        spec = self.loaded.secrets.generated.get(key)
        if spec and (self.mode == "ask" or not default):
            value = generate(spec)
            return value, envdoc.key_line(example, key, value), "generated"
        return default, _line(example.body), ""

    def _agreed(self, pair: EnvPair, key: str) -> tuple[str, str] | None:
        """(value, file) when an `agree:` group of this file shares the key and another of its files has it."""
        for keys, files in self.groups:
            if key not in keys or pair.pair.env not in files:
                continue
            for other in files:
                value = self.known.get(other, {}).get(key) if other != pair.pair.env else None
                if value:
                    return value, self.loaded.project.shown(other)
        return None

    def _ask(self, pair: EnvPair, index: int, key: str) -> str:
        chunks = pair.example.chunks
        example = chunks[index]
        comments = [c.body for c in envdoc.comments_above(chunks, index)] + [envdoc.trailing_comment(example.body)]
        return self.prompt(Question(
            file=self.loaded.project.shown(pair.pair.env), example=pair.example.shown, key=key,
            default=example.value or "", comment=" ".join(filter(None, map(strip_marker, comments))),
            hidden=key in self.loaded.secrets, generates=key in self.loaded.secrets.generated,
        ))

    def _extras(self, plan: Plan, env: Doc | None, current: dict[str, int]) -> list[str]:
        """The .env's own keys the example lacks, with the comments right above them, under a trailer line
        (`current`: env.last(), empty without an env)."""
        example_keys = plan.pair.example.last()
        plan.extras = [key for key in current if key not in example_keys]
        if env is None or not plan.extras:
            return []
        trailer = TRAILER.format(example=envfiles.example_name(plan.pair))
        parts = [f"\n{trailer}\n"]
        for key in plan.extras:
            index = current[key]
            above = [c for c in envdoc.comments_above(env.chunks, index) if c.body.strip() != trailer]
            parts += [_line(c.body) for c in above] + [_line(env.chunks[index].body)]
            plan.values[key] = env.chunks[index].value or ""
        return parts


class TerminalPrompt:
    """Asks on stderr and reads stdin (secrets without echo); refuses when stdin is not a terminal."""

    def __init__(self) -> None:
        self.file: str | None = None

    def __call__(self, question: Question) -> str:
        stdin = sys.stdin
        if stdin is None or stdin.closed or not stdin.isatty():
            raise ConfigError(NOT_A_TERMINAL)
        if question.file != self.file:
            self.file = question.file
            print(f"{question.file} (from {question.example}):", file=sys.stderr)
        try:
            if question.hidden:
                import getpass

                return getpass.getpass(question.text(), stream=sys.stderr)
            sys.stderr.write(question.text())
            sys.stderr.flush()
            answer = stdin.readline()
        except EOFError:
            answer = ""
        if not answer:
            raise ConfigError(INPUT_ENDED)
        return answer.rstrip("\r\n")


def _apply(project: envfiles.Project, plan: Plan) -> list[str]:
    """Write one planned file (or fix its mode) and say what happened."""
    env, path = plan.pair.env, plan.pair.pair.env
    shown = project.shown(path)
    if env is None:
        _write(path, plan.text, shown)
        generated = [f"{_count(plan.generated, 'secret')} generated"] if plan.generated else []
        lines = [f"created {shown} ({', '.join([_count(len(plan.values), 'key'), *generated, *plan.agreed])})"]
    elif plan.text != env.text:
        _write(path, plan.text, shown)
        what = ", ".join(plan.changes) or f"same values, laid out like {envfiles.example_name(plan.pair)}"
        lines = [f"updated {shown}: {what}"]
    elif (mode := _mode(path)) != 0o600:
        _chmod(path, shown)
        lines = [f"updated {shown}: mode 0600 (was {mode:04o})"]
    else:
        lines = [f"unchanged {shown}"]
    lines += [f"{shown}: {key} is not in {envfiles.example_name(plan.pair)} (kept)" for key in plan.extras]
    if plan.kept_secrets:
        lines.append(f"{shown}: kept the existing {', '.join(plan.kept_secrets)} ({KEPT_SECRETS})")
    return lines


def _write(path: Path, text: str, shown: str) -> None:
    """Replace the file atomically with a 0600 one (through a symlink, to its target)."""
    target = path.resolve()
    try:
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"cannot write {shown}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, target)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write {shown}: {exc.strerror}") from None


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _chmod(path: Path, shown: str) -> None:
    try:
        path.chmod(0o600)
    except OSError as exc:
        raise ConfigError(f"cannot chmod 600 {shown}: {exc.strerror}") from None


def _line(text: str) -> str:
    return text if not text or text.endswith(("\n", "\r")) else text + "\n"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
