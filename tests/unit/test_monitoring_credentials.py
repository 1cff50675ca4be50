"""A Qdrant api_key guards its /metrics too (qdrant/qdrant#1980): the scrape job sends it as a Bearer token read from
a file (credentials_file), and the key itself is in no prometheus.yml, compose.yaml, manifest, pid file or hash basis.
Per view: natively beside prometheus.yml (0600), in Compose under secrets/ (0644 in a 0700 folder, the file alone
mounted), in Kubernetes a Secret made by each overlay's secretGenerator. `promtool check config` runs with the files
where the config names them (it refuses a missing credentials_file)."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from validators import promtool

from stapel.cli.main import main
from stapel.components import prometheus as prometheus_kind
from stapel.engine.stack import open_stack
from stapel.monitoring import prometheus, views
from stapel.monitoring.prometheus import SECRETS_MOUNT
from stapel.runtimes.native.runtime import NativeContext

REPO = Path(__file__).resolve().parents[2]
KEY = "QdrantScrapeKey-0123456789abcdef"
PROD_KEY = "QdrantProdScrapeKey-9876543210fedcba"
STACK = """
components:
  metrics: {kind: prometheus}
  vec: {kind: qdrant, api_key: "${VEC_KEY:-%s}"}
  open_vec: {kind: qdrant, port: 7333, grpc_port: 7334}
""" % KEY  # noqa: UP031 - the YAML's own braces would need doubling in an f-string


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def jobs_of(text: str) -> dict[str, dict]:
    return {job["job_name"]: job for job in yaml.safe_load(text)["scrape_configs"]}


def stack_in(tmp_path: Path, env: dict[str, str] | None = None, text: str = STACK):
    (tmp_path / "stapel.yaml").write_text(text)
    return open_stack(tmp_path / "stapel.yaml", env=env or {})


def check_with_files_at(config: str, files: Path, tmp_path: Path) -> None:
    """promtool on the config as written (syntax), then on a copy naming `files` instead of SECRETS_MOUNT (everything,
    the credential files included): the names the config gives must be the files that were written."""
    path = tmp_path / "as-written.yml"
    path.write_text(config)
    done = promtool("check", "config", "--syntax-only", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert SECRETS_MOUNT in config
    path.write_text(config.replace(SECRETS_MOUNT, str(files)))
    done = promtool("check", "config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_only_a_qdrant_with_an_api_key_gets_an_authorization(tmp_path: Path) -> None:
    stack = stack_in(tmp_path)
    assert prometheus.credential_files(stack) == {"vec-api.key": KEY}
    for view in (views.native_view(stack), views.compose_view(stack), views.k8s_view(stack)):
        text = prometheus.config(stack, view, "/some/where")
        found = jobs_of(text)
        assert found["vec"]["authorization"] == {"type": "Bearer", "credentials_file": "/some/where/vec-api.key"}
        assert "authorization" not in found["open_vec"] and "authorization" not in found["metrics"]
        assert list(found["vec"]) == ["job_name", "authorization", "static_configs"]
        assert KEY not in text
    assert jobs_of(prometheus.config(stack, views.compose_view(stack)))["vec"]["authorization"]["credentials_file"] == \
        "/etc/prometheus/secrets/vec-api.key"


def test_native_key_removed_from_stapel_yaml_leaves_no_file(tmp_path: Path) -> None:
    stack = stack_in(tmp_path)
    prometheus_kind.prepare(stack.nodes["metrics"], NativeContext(stack))
    conf = stack.paths.conf("metrics")
    assert (conf / "vec-api.key").is_file()
    keyless = stack_in(tmp_path, text=STACK.replace(', api_key: "${VEC_KEY:-%s}"' % KEY, ""))  # noqa: UP031 - the same text as STACK
    prometheus_kind.prepare(keyless.nodes["metrics"], NativeContext(keyless))
    assert sorted(p.name for p in conf.iterdir()) == ["prometheus.yml"]
    assert "authorization" not in (conf / "prometheus.yml").read_text()
    assert prometheus_kind.native(keyless.nodes["metrics"], NativeContext(keyless)).hash_basis["keys"] == {}


def test_compose_without_a_prometheus_writes_no_key(tmp_path: Path) -> None:
    from stapel.render import compose

    stack = stack_in(tmp_path, text=STACK.replace("  metrics: {kind: prometheus}\n", ""))
    compose.write_support_files(stack, tmp_path / "out")
    assert not (tmp_path / "out" / "secrets").exists()


def test_runtime_compose_writes_the_key_where_compose_yaml_mounts_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_runtime_compose import v2

    root = tmp_path / "codelab"
    shutil.copytree(REPO / "examples" / "seed-001-codelab", root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local"))
    (root / "core" / "Dockerfile").write_text("FROM python:3.12-slim\n")
    monkeypatch.chdir(root)
    monkeypatch.delenv("STAPEL_CONTOUR", raising=False)
    monkeypatch.delenv("QDRANT_API_KEY", raising=False)
    v2(tmp_path, monkeypatch)
    assert main(["--runtime", "compose", "up"]) == 0
    folder = root / ".local" / "compose" / "dev"
    volumes = yaml.safe_load((folder / "compose.yaml").read_text())["services"]["metrics"]["volumes"]
    source, target = next(v.split(":")[:2] for v in volumes if "api.key" in v)
    assert (folder / source).read_text() == "dev-only-qdrant-api-key" and mode(folder / source) == 0o644
    assert jobs_of((folder / "monitoring" / "prometheus.yml").read_text())["vectors"]["authorization"]["credentials_file"] == target


def test_k8s_without_a_prometheus_has_no_credentials(tmp_path: Path) -> None:
    from stapel.render import k8s

    stacks = {"dev": stack_in(tmp_path, text=STACK.replace("  metrics: {kind: prometheus}\n", ""))}
    manifests = k8s.render(stacks, tag="t1")
    assert "scrape-credentials" not in json.dumps(manifests)
    assert not any(path.endswith("api.key") for path in k8s.secret_env_files(stacks))


def test_seed_001_scrapes_qdrant_with_its_key_in_every_view(tmp_path: Path) -> None:
    stack = open_stack(REPO / "examples" / "seed-001-codelab" / "stapel.yaml", env={})
    for view in (views.compose_view(stack), views.k8s_view(stack)):
        auth = jobs_of(prometheus.config(stack, view))["vectors"]["authorization"]
        assert auth == {"type": "Bearer", "credentials_file": f"{SECRETS_MOUNT}/vectors-api.key"}
