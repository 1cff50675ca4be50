"""How a command ends: user errors in one line each (exit 1), Ctrl-C (130), bugs (exit 3 with a crash log)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from stapel.errors import EXIT_BUG, EXIT_INTERRUPTED, StapelError


def run_guarded(command: Callable[[], int], args: argparse.Namespace) -> int:
    try:
        return command() or 0
    except StapelError as exc:
        lines = exc.lines()
        print(f"stapel: error: {lines[0]}", file=sys.stderr)
        for line in lines[1:]:
            print(f"  {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("stapel: interrupted; what this run started was stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception:
        path = _crash_log(args)
        print(f"stapel: internal error (a bug in stapel). Details and versions: {path}", file=sys.stderr)
        return EXIT_BUG


def _crash_log(args: argparse.Namespace) -> Path:
    import platform
    import traceback

    from stapel import __version__

    root = _project_root(args)
    folders = _crash_folders(root)
    mask = _crash_masker(root)
    text = mask(f"stapel {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
                f"argv: {sys.argv}\n\n{traceback.format_exc()}")
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return _write_new(folder, f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}", text)
        except OSError:
            continue
    return Path("(no crash log: no writable folder)")


def _project_root(args: argparse.Namespace) -> Path | None:
    """The project's folder (the stack found from -f or the nearest stapel.yaml), or None."""
    try:
        from stapel.paths import find_stack_file

        return find_stack_file(getattr(args, "file", None)).parent
    except Exception:  # no project (or an unreadable one)
        return None


def _crash_folders(root: Path | None) -> list[Path]:
    """The project's .local/logs; without a project, the user's state folder ($XDG_STATE_HOME/stapel), then the
    temp folder. Never a .local in whatever the cwd is."""
    import tempfile

    folders = [root / ".local" / "logs"] if root is not None else []
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    folders += [Path(state) / "stapel", Path(tempfile.gettempdir()) / f"stapel-{os.getuid()}"]
    return folders


def _crash_masker(root: Path | None):
    """A crash log is a file on disk: no secret in it. Without the stack (it may be what crashed), every value
    whose name says secret in the environment and the project's .env, and URL/DSN passwords on the command line."""
    from stapel.env.masking import Masker, secret_by_name, secrets_in

    values = dict(os.environ)
    if root is not None:
        try:
            from stapel.envdoc import read

            values.update(read(root / ".env"))
        except Exception:  # a crash log must still be written
            pass
    found = [v for k, v in values.items() if v and secret_by_name(k, v)]
    for arg in sys.argv:
        found += secrets_in(arg)
    return Masker(found)


def _write_new(folder: Path, stem: str, text: str) -> Path:
    """A file of its own: two crashes in the same second (or the same process) never overwrite each other."""
    for attempt in range(1, 1000):
        path = folder / (f"{stem}.log" if attempt == 1 else f"{stem}-{attempt}.log")
        try:
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(text)
            return path
        except FileExistsError:
            continue
    raise OSError(f"{folder}: no free crash log name")
