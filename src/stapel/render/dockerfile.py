"""`stapel render dockerfile --service NAME`: a starter Dockerfile and .dockerignore for a Python service (seed 004:
one Dockerfile per service), written where `render compose` builds it from (`build:`) and `render k8s` names it
(`<stack>/<service>:<tag>`): the Dockerfile into the service's cwd (or at services.<s>.build.dockerfile), the
.dockerignore at the root of its build context (services.<s>.build.context, default the cwd), where Docker reads it;
one the same already there is kept (services sharing a context share it).

The image: python:3.11 slim, pinned by patch version and Debian release (reproducible builds), a non-root user,
dependencies first (requirements.txt, else pyproject.toml: `pip install .`) so code changes keep the layer cache,
the service's command as CMD (exec form), its port EXPOSEd, and a HEALTHCHECK from its probe when that is http
(Python's urllib, on $PORT: the slim image has no curl). .dockerignore keeps .env files, .local/, .git and
virtualenvs out of the build context, so no secret is baked into an image. An existing file is never replaced
without --force; a service that does not look like Python is refused (write that Dockerfile yourself).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stapel.errors import ConfigError

BASE_IMAGE = "python:3.11.10-slim-bookworm"
DOCKERIGNORE = """# written by `stapel render dockerfile`: keeps secrets and local state out of the image
.env
.env.*
.local/
.git/
.venv/
venv/
__pycache__/
*.py[cod]
.pytest_cache/
Dockerfile
.dockerignore
"""


def dockerfile(stack: Any, node: Any, folder: Path, in_context: str = ".") -> str:
    """The starter for the service whose cwd is `folder`, `in_context` being that folder as its build context names it
    (services.<s>.build.context): "." copies the context into /app; a wider context lands in /app with its folders at
    their paths (what the service reads beside its folder comes along) and the service runs in /app/<in_context>."""
    command = list(node.config.command)
    python = Path(command[0]).name.startswith("python") or any(
        (folder / name).exists() for name in ("requirements.txt", "pyproject.toml", "setup.py")) or any(folder.glob("*.py"))
    if not python:
        raise ConfigError(f"services.{node.name}: does not look like a Python service (command '{command[0]}', no *.py, "
                          f"requirements.txt or pyproject.toml in {folder})", hint="write its Dockerfile yourself")
    lines = [f"# Starter Dockerfile for service '{node.name}', written by `stapel render dockerfile`: edit it freely.",
             f"FROM {BASE_IMAGE}",
             "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
             "WORKDIR /app",
             "RUN groupadd --system app && useradd --system --gid app --home-dir /app --no-create-home app"]
    here = "" if in_context == "." else f"{in_context}/"
    if (folder / "requirements.txt").is_file():
        lines += [f"COPY {here}requirements.txt ./{here}", f"RUN pip install -r {here}requirements.txt", "COPY . ."]
    elif (folder / "pyproject.toml").is_file():
        lines += ["COPY . .", f"RUN pip install ./{here}" if here else "RUN pip install ."]
    else:
        lines.append("COPY . .")
    if here:
        lines.append(f"WORKDIR /app/{in_context}")  # where it runs natively: its cwd
    lines.append("USER app")
    port = node.config.port
    if port:
        lines += [f"ENV HOST=0.0.0.0 PORT={port}", f"EXPOSE {port}"]  # what stapel gives it in a container (HOST, PORT)
    health = _healthcheck(stack, node)
    if health:
        lines.append(health)
    lines.append(f"CMD {json.dumps(command)}")
    return "\n".join(lines) + "\n"


def _healthcheck(stack: Any, node: Any) -> str | None:
    spec = stack.probe(node)
    if spec is None or spec.type != "http":
        return None
    path = spec.params.get("path") or "/"
    code = ("import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['PORT'] + "
            f"{path!r}, timeout=3)")
    return f"HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD {json.dumps(['python3', '-c', code])}"
