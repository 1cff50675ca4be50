"""How a command ends: user errors in one line each (exit 1), Ctrl-C (130), bugs (exit 3 with a crash log)."""

from __future__ import annotations

import argparse
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

    folder = Path.cwd() / ".local" / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path("/tmp")
    path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}.log"
    path.write_text(
        f"stapel {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
        f"argv: {sys.argv}\n\n{traceback.format_exc()}"
    )
    return path
