"""The tests of tests/unit/test_watch_unit.py that run the real validators (docker-compose, kubectl kustomize,
kubernetes-validate, promtool, shellcheck: tests/validators/__init__.py); their helpers stay there.

Live reload's model and planning (engine/watch.py) and its Compose form (develop.watch), without processes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from unit.test_watch_unit import REPO

from stapel.engine.stack import open_stack
from stapel.private import write_private
from stapel.render import compose
from validators import docker_compose_config


def test_compose_renders_develop_watch_and_both_validators_accept_it(tmp_path: Path) -> None:
    root = tmp_path / "minimal"
    shutil.copytree(REPO / "examples" / "minimal", root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local"))
    (root / "shared").mkdir()
    text = (root / "stapel.yaml").read_text().replace("    cwd: api\n", "    cwd: api\n    watch: {paths: [api, shared], ignore: ['*.md']}\n"
                                                                           "    logs: {keep: 2}\n")
    text += "logs: {max_size: 512KiB}\n"
    (root / "stapel.yaml").write_text(text)
    stack = open_stack(root / "stapel.yaml", "dev", env={})
    out = root / "deploy" / "compose"
    doc, refs = compose.build(stack, out)
    out.mkdir(parents=True)
    (out / "compose.yaml").write_text(compose.document_text(stack, doc))
    write_private(out / ".env.compose", compose.env_text(stack, refs))
    develop = yaml.safe_load((out / "compose.yaml").read_text())["services"]["api"]["develop"]
    assert develop["watch"][0]["action"] == "sync+restart" and develop["watch"][0]["target"] == "/app"
    assert develop["watch"][0]["path"] == "../../api" and "*.md" in develop["watch"][0]["ignore"]
    assert develop["watch"][1] == {"action": "rebuild", "path": "../../shared"}  # outside the build context
    services = yaml.safe_load((out / "compose.yaml").read_text())["services"]
    assert services["api"]["logging"] == {"driver": "json-file", "options": {"max-size": "512k", "max-file": "3"}}
    assert services["db"]["logging"]["options"] == {"max-size": "512k", "max-file": "6"}
    docker_compose_config(out)
