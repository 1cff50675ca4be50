"""The formats of `stapel env print` (cli/env.py; the environment itself: engine/environment.py).

dotenv: KEY="value" that python-dotenv reads back unchanged (except `${...}`, which its interpolation expands;
read with interpolate=False to keep it); json: one object; shell: `export KEY='value'` to source in sh/bash.
"""

from __future__ import annotations

import json
import shlex

_DOTENV_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})


def dotenv(env: dict[str, str]) -> str:
    return "".join(f'{key}="{value.translate(_DOTENV_ESCAPES)}"\n' for key, value in env.items())


def as_json(env: dict[str, str]) -> str:
    return json.dumps(env, indent=2) + "\n"


def shell(env: dict[str, str]) -> str:
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())


RENDER = {"dotenv": dotenv, "json": as_json, "shell": shell}
