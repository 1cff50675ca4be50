"""Restart policy arithmetic and the rebuild of a re-adopted process's launch spec, for the supervisor."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any

from stapel.components.base import LaunchSpec
from stapel.paths import Paths

RESPEC_TIMEOUT = 60.0
_RESPECS = threading.Semaphore(2)  # each rebuild loads stapel.yaml in a new Python: 200 at once would swamp 2 cores
STABLE_SECONDS = 60.0  # a run this long ends a series of failures: the next one waits backoff_seconds again


def backoff(policy: dict[str, Any], failures: int) -> float:
    """backoff_seconds, doubled for each failure in a row before this one, at most max_backoff_seconds."""
    first = float(policy.get("backoff_seconds", 1.0))
    return min(first * 2 ** min(failures, 30), float(policy.get("max_backoff_seconds", 30.0)))


def rebuild_spec(paths: Paths, name: str) -> LaunchSpec:
    """The node's spec, secrets included, from stapel.yaml and the env files, by a helper process whose stdout is
    a pipe to us (nothing with a secret touches the disk). ValueError when it cannot."""
    argv = [sys.executable, "-m", "stapel.engine.respec", str(paths.root), paths.contour, name]
    try:
        with _RESPECS:
            done = subprocess.run(argv, cwd=str(paths.root), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=RESPEC_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ValueError(f"could not rebuild its launch spec: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise ValueError(f"could not rebuild its launch spec: {last}")
    try:
        return LaunchSpec.from_json(json.loads(done.stdout))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"could not read the rebuilt launch spec: {type(exc).__name__}") from None
