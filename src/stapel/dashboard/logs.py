"""Follow the nodes' log files, and read each line's level, time and message (stapel.kit's JSON lines, or the
usual `LEVEL` words of plain lines: PostgreSQL's `ERROR:`, Redis's `#`/`*`, Python's logging)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, BinaryIO

TAIL_BYTES = 64 * 1024
MAX_LINE = 4000
LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
_ALIASES = {"WARNING": "WARN", "CRITICAL": "ERROR", "FATAL": "ERROR", "PANIC": "ERROR", "EXCEPTION": "ERROR", "NOTICE": "INFO",
            "LOG": "INFO", "TRACE": "DEBUG", "ERR": "ERROR", "DBG": "DEBUG", "CRIT": "ERROR", "EMERG": "ERROR", "ALERT": "ERROR"}
_WORD = re.compile(r"(?<![A-Za-z])(DEBUG|INFO|NOTICE|LOG|WARNING|WARN|ERROR|ERR|CRITICAL|FATAL|PANIC|TRACE)(?![A-Za-z])")


def level_of(word: Any) -> str | None:
    if not isinstance(word, str):
        return None
    upper = word.strip().upper()
    upper = _ALIASES.get(upper, upper)
    return upper if upper in LEVELS else None


def parse(line: str) -> dict[str, Any]:
    """{text, level, ts, msg}: a JSON object's `level`, `event` (or `message`/`msg`) and `timestamp` (or `time`/`ts`);
    for a plain line, the first level word in it (INFO when there is none)."""
    text = line[:MAX_LINE]
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            message = next((data[k] for k in ("event", "message", "msg") if isinstance(data.get(k), str)), "")
            stamp = next((data[k] for k in ("timestamp", "time", "ts") if data.get(k) is not None), None)
            return {"text": text, "level": level_of(data.get("level") or data.get("levelname")) or "INFO",
                    "ts": str(stamp) if stamp is not None else None, "msg": message, "json": True}
    found = _WORD.search(text[:200])
    return {"text": text, "level": level_of(found.group(1)) if found else "INFO", "ts": None, "msg": text, "json": False}


class Follower:
    """New lines of one file since the last call; survives the file being rotated (renamed and recreated) or
    truncated: the rest of the old file is read first, then the new one from its start."""

    def __init__(self, path: Path):
        self.path = path
        self.handle: BinaryIO | None = None
        self.inode: int | None = None
        self.partial = b""

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def _open(self, from_end: bool) -> bool:
        try:
            handle = self.handle = open(self.path, "rb")  # noqa: SIM115 - held open between reads, closed by close()
        except OSError:
            return False
        self.inode = os.fstat(handle.fileno()).st_ino
        if from_end:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            if size > TAIL_BYTES:
                handle.readline()  # the first, cut line
        return True

    def read(self, first_lines: int = 200) -> list[str]:
        """Lines completed since the last call (the first call: the file's last `first_lines`)."""
        if self.handle is None:
            if not self._open(from_end=True):
                return []
            return self._lines()[-first_lines:]
        lines = self._lines()
        try:
            now = os.stat(self.path)
        except OSError:
            return lines
        if now.st_ino != self.inode or now.st_size < self.handle.tell():  # rotated or truncated
            lines += self._lines(final=True)
            self.close()
            if self._open(from_end=False):
                lines += self._lines()
        return lines

    def _lines(self, final: bool = False) -> list[str]:
        assert self.handle is not None, "read() opens the file first"
        data = self.partial + self.handle.read()
        *complete, self.partial = data.split(b"\n")
        if final and self.partial:
            complete.append(self.partial)
            self.partial = b""
        return [line.decode(errors="replace").rstrip("\r") for line in complete]
