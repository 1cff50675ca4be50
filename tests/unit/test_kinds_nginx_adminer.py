"""The nginx and adminer kinds, natively: launch specs, the generated nginx.conf and Adminer router, ports per contour,
exports, and every bad input as one line. Hermetic: stub `nginx` and `php` executables in bin_dir (the stub php
answers `php -m` like a PHP with or without pgsql); tests/validators runs the real `nginx -t` on these configs, and
tests/integration starts both for real."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stapel.components import adminer, nginx
from stapel.engine.stack import open_stack
from stapel.errors import ConfigError, PreflightError
from stapel.runtimes.native.runtime import NativeContext

STACK = """\
name: gprod
contours:
  dev: {{}}
  stage: {{ports: {{offset: 100, set: {{ui: 8081}}}}, weak_credentials: allow}}
  prod: {{ports: {{offset: 200, set: {{ui: 8082}}}}, weak_credentials: allow}}
components:
  db: {{kind: postgres, user: gprod, port: 5433}}
  web:
    kind: nginx
    port: 8180
    routes: {{/api: api, /: frontend}}
    bin_dir: {bins}
  ui: {{kind: adminer, server: db, bin_dir: {bins}{extra}}}
services:
  api: {{command: python3 app.py, port: 3000}}
  frontend: {{command: python3 front.py, port: 5173}}
"""


def stub(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(f"#!/bin/sh\n{text}\n")
    (folder / name).chmod(0o755)


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A project the servers' unprivileged user can reach (pytest's own folders are 0700: their data would go to
    stand-ins under /var/lib/stapel, which these tests must not leave behind)."""
    folder = Path(tempfile.mkdtemp(prefix="stapel-kinds-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def bins(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    stub(folder, "nginx", 'echo "nginx version: nginx/1.22.1" >&2')
    stub(folder, "php", 'case "$1" in -m) printf "[PHP Modules]\\npdo_pgsql\\npgsql\\n";; *) echo "PHP 8.2.36 (cli)";; esac')
    return folder


def stack_in(tmp_path: Path, bins: Path, contour: str | None = None, extra: str = "", text: str = STACK):
    (tmp_path / "stapel.yaml").write_text(text.format(bins=bins, extra=extra))
    return open_stack(tmp_path / "stapel.yaml", contour, env={})


def test_nginx_runs_in_the_foreground_with_everything_it_writes_under_local(tmp_path: Path, bins: Path) -> None:
    stack = stack_in(tmp_path, bins)
    node, ctx = stack.nodes["web"], NativeContext(stack)
    spec = nginx.native(node, ctx)
    conf = stack.paths.conf("web")
    assert spec.argv == [str(bins / "nginx"), "-p", f"{conf}/", "-c", str(conf / "nginx.conf"), "-e", "stderr"]
    nginx.prepare(node, ctx)
    text = (conf / "nginx.conf").read_text()
    assert "daemon off;" in text and f"pid {conf / 'nginx.pid'};" in text and "error_log stderr notice;" in text
    temp = stack.paths.data("web") / "temp"
    assert [line.strip() for line in text.splitlines() if "_temp_path" in line] == [
        f"{kind}_temp_path {temp}/{kind};" for kind in nginx.TEMP_KINDS]
    assert "/etc/nginx" not in text and "/var/" not in text
    assert "listen 127.0.0.1:8180;" in text
    if os.geteuid() == 0:  # the master binds, the workers read requests as nobody
        assert "user nobody " in text and stack.paths.data("web").stat().st_uid != 0
    assert spec.hash_basis["conf"] == text


def test_nginx_routes_go_to_the_targets_ports_as_used(tmp_path: Path, bins: Path) -> None:
    stack = stack_in(tmp_path, bins)
    ctx = NativeContext(stack)
    text = nginx.native_config(stack.nodes["web"], ctx)
    blocks = [line.strip() for line in text.splitlines() if line.strip().startswith(("location", "proxy_pass"))]
    assert blocks == ["location = /_stapel/health {",
                      "location = /api {", "proxy_pass http://127.0.0.1:3000;",
                      "location /api/ {", "proxy_pass http://127.0.0.1:3000;",
                      "location / {", "proxy_pass http://127.0.0.1:5173;"]
    before = nginx.native(stack.nodes["web"], ctx).spec_hash
    stack.nodes["api"].ports["main"] = 3007  # a busy port moved: the route follows, and nginx restarts with it
    assert "proxy_pass http://127.0.0.1:3007;" in nginx.native_config(stack.nodes["web"], ctx)
    assert nginx.native(stack.nodes["web"], ctx).spec_hash != before


def test_nginx_on_a_privileged_port_needs_root(tmp_path: Path, bins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = stack_in(tmp_path, bins)
    stack.nodes["web"].ports["main"] = 80
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(NativeContext, "run_as", staticmethod(lambda wanted: None))
    with pytest.raises(PreflightError) as info:
        nginx.native(stack.nodes["web"], NativeContext(stack))
    assert info.value.message == "components.web.port: 80 is a privileged port, only root binds it"


def test_nginx_and_adminer_export_where_they_answer(tmp_path: Path, bins: Path) -> None:
    stack = stack_in(tmp_path, bins, text=STACK.replace("port: 3000}", "port: 3000, depends_on: [web, ui]}"))
    env = stack.service_env(stack.nodes["api"])
    assert {k: v for k, v in env.items() if k.startswith(("WEB_", "UI_"))} == {
        "WEB_URL": "http://127.0.0.1:8180", "WEB_HOST": "127.0.0.1", "WEB_PORT": "8180",
        "UI_URL": "http://127.0.0.1:8080", "UI_HOST": "127.0.0.1", "UI_PORT": "8080"}


@pytest.mark.parametrize(("contour", "port"), [("dev", 8080), ("stage", 8081), ("prod", 8082)])
def test_adminer_one_per_contour_on_the_seeds_ports(tmp_path: Path, bins: Path, contour: str, port: int) -> None:
    """Seed 003: Adminer on 8080 / 8081 / 8082 in dev / stage / prod."""
    stack = stack_in(tmp_path, bins, contour)
    node = stack.nodes["ui"]
    assert node.port == port
    spec = adminer.native(node, NativeContext(stack))
    assert spec.argv[-5:] == ["-S", f"127.0.0.1:{port}", "-t", str(Path(spec.cwd)), str(Path(spec.cwd) / "router.php")]
    assert Path(spec.cwd) == stack.paths.data("ui").absolute() and f"/data/{contour}/ui" in spec.cwd


def test_adminer_points_the_login_form_at_the_postgres_component(tmp_path: Path, bins: Path) -> None:
    stack = stack_in(tmp_path, bins)
    node, ctx = stack.nodes["ui"], NativeContext(stack)
    spec = adminer.native(node, ctx)
    assert f"session.save_path={spec.cwd}/sessions" in spec.argv and f"upload_tmp_dir={spec.cwd}/tmp" in spec.argv
    adminer.prepare(node, ctx)
    router = (Path(spec.cwd) / "router.php").read_text()
    assert "$_GET['pgsql'] = '127.0.0.1:5433';" in router and "$_GET['username'] = 'gprod';" in router
    assert router.rstrip().endswith("include '/usr/share/adminer/adminer.php';")
    assert spec.user == ("nobody" if os.geteuid() == 0 else None)
    without = stack_in(tmp_path, bins, text=STACK.replace(" server: db,", ""))
    assert "$_GET" not in adminer._router_text(without.nodes["ui"], NativeContext(without))


def test_adminer_without_php_names_the_packages(tmp_path: Path, bins: Path) -> None:
    (bins / "php").unlink()
    stack = stack_in(tmp_path, bins)
    with pytest.raises(PreflightError) as info:
        adminer.native(stack.nodes["ui"], NativeContext(stack))
    assert info.value.message == f"components.ui: adminer needs PHP (php-cli), not found in {bins}"
    assert "apt-get install -y php-cli php-pgsql adminer" in info.value.hint


def test_adminer_with_a_php_without_pgsql_says_so(tmp_path: Path, bins: Path) -> None:
    stub(bins, "php", 'case "$1" in -m) printf "[PHP Modules]\\njson\\n";; *) echo "PHP 8.2.36 (cli)";; esac')
    stack = stack_in(tmp_path, bins)
    with pytest.raises(PreflightError) as info:
        adminer.native(stack.nodes["ui"], NativeContext(stack))
    assert info.value.message == f"components.ui: {bins / 'php'} has no PostgreSQL extension (pgsql)"
    assert "php-pgsql" in info.value.hint


def test_adminer_without_adminer_names_the_package(tmp_path: Path, bins: Path) -> None:
    stack = stack_in(tmp_path, bins, extra=f", adminer_php: {tmp_path}/none.php")
    with pytest.raises(PreflightError) as info:
        adminer.native(stack.nodes["ui"], NativeContext(stack))
    assert info.value.message == f"components.ui: adminer needs Adminer's adminer.php, not found at {tmp_path}/none.php"
    assert "apt-get install -y php-cli php-pgsql adminer" in info.value.hint


BAD = [
    ("routes: {/api: apx}", "stapel.yaml:4: components.web.routes./api: unknown name 'apx'; did you mean 'api'?"),
    ("routes: {/: web}", "stapel.yaml:4: components.web.routes./: nginx cannot proxy to itself; name a service or another component"),
    ("routes: {/jobs: worker}", "stapel.yaml:4: components.web.routes./jobs: services.worker has no port to proxy to; give it one"),
    ("routes: {api: api}", "stapel.yaml:4: components.web.routes: 'api' is not a URL path prefix: start with / (e.g. /api or /)"),
]


@pytest.mark.parametrize(("routes", "line"), BAD)
def test_bad_routes_are_one_line_each(config_error, routes: str, line: str) -> None:
    lines = config_error(f"""
        components:
          web:
            kind: nginx
            {routes}
        services:
          api: {{command: python3 app.py, port: 3000}}
          worker: {{command: python3 worker.py}}
        """)
    assert lines == [line]


@pytest.mark.parametrize(("server", "line"), [
    ("dbb", "stapel.yaml:4: components.ui.server: unknown name 'dbb'; did you mean 'db'?"),
    ("cache", "stapel.yaml:4: components.ui.server: 'cache' is redis, not postgres; name a postgres component"),
])
def test_adminer_server_must_be_a_postgres_component(config_error, server: str, line: str) -> None:
    lines = config_error(f"""
        components:
          ui:
            kind: adminer
            server: {server}
          db: {{kind: postgres}}
          cache: {{kind: redis}}
        """)
    assert lines == [line]


def test_a_route_error_stops_the_stack_from_opening(tmp_path: Path, bins: Path) -> None:
    with pytest.raises(ConfigError):
        stack_in(tmp_path, bins, text=STACK.replace("/api: api", "/api: nope"))
