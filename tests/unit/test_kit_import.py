"""The CLI never loads stapel.kit or its libraries (the start-up budget of `stapel --help`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_stapel_help_imports_nothing_of_the_kit() -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "stapel", "--help"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "stapel" in imported
    for name in ("stapel.kit", "pydantic_settings", "structlog", "psycopg_pool", "prometheus_client", "redis", "aio_pika",
                 "aiormq", "httpx", "stamina", "aiolimiter"):
        assert not {m for m in imported if m == name or m.startswith(name + ".")}, name
