"""Consul KV and Qdrant collections as one-shots in `render compose` and `render k8s` (render/http_jobs.py), for
examples/seed-000-crm (Consul) and examples/seed-001-codelab (Qdrant with an api key).

The generated scripts are run by the machine's real curl and sh against the in-process Consul/Qdrant fakes of
test_provision_consul_qdrant.py (no Consul or Qdrant server can run here; see that module for why and how the
fakes follow the vendors' API docs): values arrive byte for byte, a second run creates nothing, the api key comes
from the env. Rendered output passes docker-compose 1.29 + the compose-spec validator, kubectl kustomize +
kubernetes-validate --strict, sh -n and shellcheck."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_provision_consul_qdrant import Fake

from stapel.engine.stack import open_stack
from stapel.errors import ConfigError
from stapel.render import compose, http_jobs, jobs

REPO = Path(__file__).resolve().parents[2]
QDRANT_KEY = "dev-only-qdrant-api-key"
ODD_VALUE = "@not-a-file 'quoted' \"double\" $HOME\nsecond line -x"


def example(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(REPO / "examples" / name, root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local"))
    return root


def run_script(text: str, port: int, default_port: int, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The script as the one-shot runs it, its host the fake on 127.0.0.1 (the only change made to it)."""
    text = text.replace(f"http://127.0.0.1:{default_port}/", f"http://127.0.0.1:{port}/")
    return subprocess.run(["sh", "-c", text], env={"PATH": "/usr/bin:/bin", **(env or {})}, capture_output=True, text=True,
                          timeout=60)


def local_shot(root: Path, name: str) -> jobs.OneShot:
    stack = open_stack(root / "stapel.yaml", "dev", env={})
    return next(s for s in jobs.one_shots(stack, host_of=lambda n: "127.0.0.1") if s.name == name)


def test_the_consul_script_writes_every_key_byte_for_byte(tmp_path: Path) -> None:
    root = example(tmp_path, "seed-000-crm")
    file = root / "stapel.yaml"
    file.write_text(file.read_text().replace('      config/notifications/retries: "5"\n',
                                             f'      config/notifications/retries: "5"\n      config/odd: {yaml.safe_dump(ODD_VALUE).strip()}\n'))
    shot = local_shot(root, "registry-provision")
    assert (shot.image, shot.command, shot.needs) == (http_jobs.CURL_IMAGE, ["sh", "/stapel/provision.sh"], "registry")
    fake = Fake()
    try:
        for _ in range(2):  # every run PUTs every key: writing the same value again changes nothing
            done = run_script(shot.files["provision.sh"], fake.port, 8500)
            assert done.returncode == 0, done.stderr
        assert fake.kv == {"config/gateway/upstream_timeout_ms": b"3000", "config/gateway/rate_limit_per_minute": b"600",
                           "config/crm/documents_storage_root": b"/var/lib/crm/documents", "config/notifications/retries": b"5",
                           "config/odd": ODD_VALUE.encode()}
        assert done.stdout.splitlines()[0] == "PUT /v1/kv/config/crm/documents_storage_root"
    finally:
        fake.close()


def test_the_qdrant_script_creates_only_what_is_missing_with_the_key_from_the_env(tmp_path: Path) -> None:
    shot = local_shot(example(tmp_path, "seed-001-codelab"), "vectors-provision")
    script = shot.files["provision.sh"]
    assert QDRANT_KEY not in script and '-H "api-key: $QDRANT__SERVICE__API_KEY"' in script
    fake = Fake(api_key=QDRANT_KEY)
    try:
        fake.collections["data_analyst"] = {"size": 1536, "distance": "Cosine"}
        done = run_script(script, fake.port, 6333, {"QDRANT__SERVICE__API_KEY": QDRANT_KEY})
        assert done.returncode == 0, done.stderr
        assert fake.writes() == ["PUT /collections/code_assistant", "PUT /collections/document_writer"]
        assert fake.collections["code_assistant"] == {"size": 1536, "distance": "Cosine"}
        assert "/collections/data_analyst exists" in done.stdout.splitlines()
        again = run_script(script, fake.port, 6333, {"QDRANT__SERVICE__API_KEY": QDRANT_KEY})
        assert again.returncode == 0 and len(fake.writes()) == 2  # the second run only reads
        wrong = run_script(script, fake.port, 6333, {"QDRANT__SERVICE__API_KEY": "wrong"})
        assert wrong.returncode == 1 and wrong.stderr.strip() == "GET /collections/code_assistant answered 401"
        assert len(fake.writes()) == 2
    finally:
        fake.close()


def test_the_script_fails_when_the_component_never_answers(tmp_path: Path) -> None:
    text = local_shot(example(tmp_path, "seed-000-crm"), "registry-provision").files["provision.sh"]
    text = text.replace("--retry 10 --retry-delay 2", "--retry 0 --retry-delay 0")  # a quick no (curl waits 1 s before a retry)
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connection refused
        done = run_script(text, port, 8500)
    assert done.returncode != 0 and "Failed to connect" in done.stderr


def test_a_qdrant_without_a_key_sends_no_header(tmp_path: Path) -> None:
    root = example(tmp_path, "seed-001-codelab")
    file = root / "stapel.yaml"
    file.write_text(file.read_text().replace("    api_key: ${QDRANT_API_KEY:-dev-only-qdrant-api-key}\n", ""))
    stack = open_stack(file, "dev", env={})
    shot = next(s for s in jobs.one_shots(stack) if s.name == "vectors-provision")
    assert "api-key" not in shot.files["provision.sh"]
    assert "environment" not in compose.render(stack)["services"]["vectors-provision"]


def test_a_secret_consul_value_is_refused(tmp_path: Path) -> None:
    root = example(tmp_path, "seed-000-crm")
    file = root / "stapel.yaml"
    file.write_text(file.read_text().replace('config/notifications/retries: "5"', "config/crm/db_password: ${DB_PASSWORD:-dev-only-db-password}"))
    with pytest.raises(ConfigError) as info:
        compose.render(open_stack(file, "dev", env={}))
    assert info.value.message == "registry-provision/provision.sh: holds a secret value, which would land in a rendered file or ConfigMap"
    assert info.value.hint.startswith("a Consul KV value in stapel.yaml is written into the provision script")
    assert "dev-only-db-password" not in " ".join(info.value.lines())
