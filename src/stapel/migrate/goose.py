"""The goose migration format: the statements pressly/goose sends for each direction of one SQL file.

A port of goose's `internal/sqlparser/parser.go` (v3, the version with ENVSUB), rule for rule:

- Lines end at LF; a CR before it is dropped (CRLF files parse like LF files).
- An annotation is a comment line that contains `+goose`: `-- +goose Up`, `Down`, `StatementBegin`,
  `StatementEnd`, `NO TRANSACTION`, `ENVSUB ON`, `ENVSUB OFF`, case-insensitive, starting in column 1.
  Any other comment line naming `+goose` is an error, as in goose; `+goose` itself is matched
  case-sensitively, so `-- +GOOSE Down` is a plain comment (goose's `strings.Contains`).
- `-- +goose Up` is mandatory and comes before any SQL; `-- +goose Down` is optional (`has_down` says
  whether the file has one). NO TRANSACTION anywhere in the file runs the whole migration outside a
  transaction.
- Outside StatementBegin/StatementEnd a statement ends at a line whose last word before the first word
  starting with `--` ends with `;`. goose does not look inside strings: `SELECT 1; -- x` ends a statement,
  `SELECT 1;-- x` does not, and neither does `SELECT 'a -- b';`.
- Between StatementBegin and StatementEnd every line belongs to one statement (plpgsql bodies).
- Blank and comment lines before a statement are dropped, those inside one are kept; each statement is
  sent trimmed of surrounding whitespace.
- ENVSUB ON expands, on each line kept for a statement until ENVSUB OFF, what goose's interpolation library
  (mfridman/interpolate) expands: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR?message}`,
  `${VAR:offset}`, `${VAR:offset:length}`; `$$` and `\\$` give a literal `$` (so a `$$` plpgsql body inside
  an ENVSUB region loses a dollar, as with goose), `$(` is left alone, an unset variable becomes empty, and
  `$1` is an error.
- goose parses a file once per direction and fails on an error in either; so does `parse`.

Where stapel deliberately differs, each a file goose mishandles silently:
- a UTF-8 byte order mark at the start is ignored (goose fails with "must start with '-- +goose Up'");
- SQL right after an empty StatementBegin/StatementEnd block is an error (goose sends an empty statement
  and drops that line), and an empty statement is never sent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from stapel.errors import ConfigError

ANNOTATIONS = {a.lower(): a for a in ("Up", "Down", "StatementBegin", "StatementEnd", "NO TRANSACTION", "ENVSUB ON", "ENVSUB OFF")}
START, UP, BEGIN_UP, END_UP, DOWN, BEGIN_DOWN, END_DOWN = range(7)
SECTION = {UP: "up", BEGIN_UP: "up", END_UP: "up", DOWN: "down", BEGIN_DOWN: "down", END_DOWN: "down"}


@dataclass(frozen=True)
class ParsedMigration:
    up: list[str]
    down: list[str]
    in_transaction: bool = True
    has_down: bool = False  # the file has a `-- +goose Down` annotation (its section may still be empty)
    up_lines: list[int] = field(default_factory=list)  # the line each statement starts on
    down_lines: list[int] = field(default_factory=list)


def parse(text: str, *, name: str = "<text>", env: Mapping[str, str] | None = None) -> ParsedMigration:
    """The statements of one goose SQL file; an invalid file raises ConfigError naming `name:line`.
    `env` is what ENVSUB expands from (default: the process environment)."""
    lines = _lines(text)
    up, down = (_Pass(name, direction, os.environ if env is None else env) for direction in ("up", "down"))
    up.run(lines)
    down.run(lines)
    return ParsedMigration(up.statements, down.statements, up.in_transaction, down.has_down, up.starts, down.starts)


def ends_with_semicolon(line: str) -> bool:
    last = ""
    for word in line.split():
        if word.startswith("--"):
            break
        last = word
    return last.endswith(";")


def _lines(text: str) -> list[str]:
    lines = text.removeprefix("\ufeff").split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


class _Pass:
    """One pass of goose's state machine over the file, keeping the statements of one direction."""

    def __init__(self, name: str, direction: str, env: Mapping[str, str]):
        self.name, self.direction, self.env = name, direction, env
        self.state = START
        self.in_transaction, self.envsub, self.has_down = True, False, False
        self.buf: list[str] = []
        self.buf_line = self.begin_line = self.end_line = 0
        self.statements: list[str] = []
        self.starts: list[int] = []

    def error(self, number: int, text: str) -> ConfigError:
        return ConfigError(f"{self.name}:{number}: {text}")

    def run(self, lines: list[str]) -> None:
        for number, line in enumerate(lines, 1):
            self.line(number, line)
        if self.state == START:
            raise self.error(1, "no '-- +goose Up' annotation (a goose migration starts with it)")
        if self.state in (BEGIN_UP, BEGIN_DOWN):
            raise self.error(self.begin_line, "'-- +goose StatementBegin' has no '-- +goose StatementEnd'")
        self.unfinished("the end of the file")

    def line(self, number: int, line: str) -> None:
        stripped = line.strip()
        if self.state == START and not stripped:
            return
        at_end = False
        if stripped.startswith("--") and "+goose" in line:
            annotation = self.annotation(number, line)
            if annotation != "StatementEnd":
                self.apply(number, annotation)
                return
            self.statement_end(number)
            at_end = True
        if not self.buf and (stripped.startswith("--") or line == ""):
            return
        if self.state not in (END_UP, END_DOWN):
            self.keep(number, line)
        if self.state == START:
            raise self.error(number, "SQL before '-- +goose Up' (a goose migration starts with it)")
        if SECTION[self.state] != self.direction:
            self.buf.clear()
        elif self.state in (UP, DOWN):
            if ends_with_semicolon(line):
                self.emit()
        elif self.state in (END_UP, END_DOWN):
            if not at_end:
                raise self.error(number, f"SQL right after the empty StatementBegin/StatementEnd block ending on line "
                                         f"{self.end_line}: goose would drop this line; put SQL in the block or remove it")
            self.emit()
            self.state = UP if self.state == END_UP else DOWN

    def annotation(self, number: int, line: str) -> str:
        if line[:1] in (" ", "\t"):
            raise self.error(number, "a goose annotation must start in the first column")
        command = line.replace("--", "").replace("+goose", "", 1)
        if "+goose" in command:
            raise self.error(number, "more than one '+goose' on one line")
        command = command.strip()
        if command.lower() not in ANNOTATIONS:
            raise self.error(number, f"unknown goose annotation '{command}' (known: {', '.join(ANNOTATIONS.values())})")
        return ANNOTATIONS[command.lower()]

    def apply(self, number: int, annotation: str) -> None:
        if annotation == "Up":
            if self.state != START:
                raise self.error(number, "a second '-- +goose Up'")
            self.state = UP
        elif annotation == "Down":
            self.down(number)
        elif annotation == "StatementBegin":
            self.statement_begin(number)
        elif annotation == "NO TRANSACTION":
            self.in_transaction = False
        else:
            self.envsub = annotation == "ENVSUB ON"

    def down(self, number: int) -> None:
        if self.state == START:
            raise self.error(number, "'-- +goose Down' before '-- +goose Up'")
        if self.state == BEGIN_UP:
            raise self.error(number, f"'-- +goose Down' inside the StatementBegin of line {self.begin_line} "
                                     "(missing '-- +goose StatementEnd'?)")
        if SECTION[self.state] == "down":
            raise self.error(number, "a second '-- +goose Down'")
        self.unfinished(f"'-- +goose Down' on line {number}")
        self.state, self.has_down = DOWN, True

    def statement_begin(self, number: int) -> None:
        if self.state in (UP, END_UP, DOWN, END_DOWN):
            self.state = BEGIN_UP if SECTION[self.state] == "up" else BEGIN_DOWN
            self.begin_line = number
        elif self.state == START:
            raise self.error(number, "'-- +goose StatementBegin' before '-- +goose Up'")
        else:
            raise self.error(number, f"'-- +goose StatementBegin' inside the StatementBegin of line {self.begin_line} "
                                     "(missing '-- +goose StatementEnd'?)")

    def statement_end(self, number: int) -> None:
        if self.state not in (BEGIN_UP, BEGIN_DOWN):
            raise self.error(number, "'-- +goose StatementEnd' without a '-- +goose StatementBegin' before it")
        self.state = END_UP if self.state == BEGIN_UP else END_DOWN
        self.end_line = number

    def keep(self, number: int, line: str) -> None:
        if self.envsub:
            try:
                line = _Interpolation(line, self.env).expression()
            except ValueError as exc:
                raise self.error(number, f"ENVSUB: {exc}") from None
        if not self.buf:
            self.buf_line = number
        self.buf.append(line)

    def emit(self) -> None:
        statement = "\n".join(self.buf).strip()
        if statement:
            self.statements.append(statement)
            self.starts.append(self.buf_line)
        self.buf.clear()

    def unfinished(self, where: str) -> None:
        if "\n".join(self.buf).strip():
            raise self.error(self.buf_line, f"the statement starting here has no line ending in ';' before {where} "
                                            "(missing semicolon?)")


class _Interpolation:
    """mfridman/interpolate's grammar and expansion; `active` is false inside a default that is not used."""

    def __init__(self, text: str, env: Mapping[str, str]):
        self.text, self.pos, self.env = text, 0, env

    def peek(self) -> str:
        return self.text[self.pos:self.pos + 1]

    def take(self) -> str:
        char = self.peek()
        self.pos += len(char)
        return char

    def expression(self, stop: str = "", active: bool = True) -> str:
        out = []
        while self.pos < len(self.text) and self.peek() not in stop:
            rest = self.text[self.pos:]
            if rest.startswith(("\\\\", "$(")):
                out.append(rest[:2])
                self.pos += 2
            elif rest.startswith(("\\$", "$$")):
                out.append("$")
                self.pos += 2
            elif rest[0] == "$" and len(rest) > 1:
                self.pos += 1
                out.append(self.braced(active) if self.peek() == "{" else self.env.get(self.identifier(), ""))
            else:
                start = self.pos
                self.pos += 1
                while self.pos < len(self.text) and self.peek() not in "$\\" + stop:
                    self.pos += 1
                out.append(self.text[start:self.pos])
        return "".join(out)

    def identifier(self) -> str:
        if not self.peek().isalpha():
            raise ValueError(f"a variable name must start with a letter, got {self.peek() or 'the end of the line'!r} "
                             f"after '$' (write $$ for a literal $)")
        start = self.pos
        while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
            self.pos += 1
        return self.text[start:self.pos]

    def braced(self, active: bool) -> str:
        self.pos += 1  # {
        name = self.identifier()
        value = self.env.get(name)
        operator = self.take()
        if operator == "}":
            return value or ""
        if operator == ":" and self.peek() == "-":
            self.pos += 1
            default = self.expression("}", active and not value)
            result = value or default
        elif operator == "-":
            default = self.expression("}", active and value is None)
            result = default if value is None else value
        elif operator == "?":
            message = self.expression("}", active and value is None)
            if active and value is None:
                raise ValueError(f"${name}: {message or 'not set'}")
            result = value or ""
        elif operator == ":":
            result = self.substring(value or "")
        else:
            raise ValueError(f"expected '}}', ':-', '-', '?' or ':' after '${{{name}', got {operator or 'the end of the line'!r}")
        if self.take() != "}":
            raise ValueError(f"'${{{name}' is not closed by '}}'")
        return result

    def substring(self, value: str) -> str:
        offset = self.number(self.scan(":}"), "offset")
        length = None
        if self.peek() != "}":
            self.take()
            length = self.number(self.scan("}"), "length")
        start = offset if offset >= 0 else max(len(value) + offset, 0)
        if length is None:
            return value[start:]
        end = min(start + length if length >= 0 else len(value) + length, len(value))
        return value[start:end] if end > start else ""

    def scan(self, stops: str) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.peek() not in stops:
            self.pos += 1
        return self.text[start:self.pos]

    @staticmethod
    def number(text: str, what: str) -> int:
        if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
            raise ValueError(f"cannot parse the substring {what} '{text}' (note: ':?' is not supported)")
        return int(text)
