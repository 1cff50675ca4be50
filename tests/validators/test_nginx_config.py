"""The nginx.conf stapel generates, checked by the real `nginx -t` (Debian's nginx-light): natively as stapel runs it
(-p, -e stderr, nothing under /etc/nginx or /var), and a broken one is refused (the check can fail)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from test_kinds_nginx_adminer import bins, stack_in, tmp_path  # noqa: F401 - fixtures

import validators
from stapel.components import nginx
from stapel.runtimes.native.runtime import NativeContext


def nginx_t(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([validators.required("nginx", "apt-get install nginx-light"), "-t", *argv[1:]],
                          capture_output=True, text=True, timeout=30, check=False)


def test_the_native_config_passes_nginx_t(tmp_path: Path, bins: Path) -> None:  # noqa: F811
    stack = stack_in(tmp_path, bins)
    node, ctx = stack.nodes["web"], NativeContext(stack)
    spec = nginx.native(node, ctx)
    nginx.prepare(node, ctx)
    done = nginx_t(spec.argv)
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr and "test is successful" in done.stderr
    conf = Path(spec.argv[4])
    conf.write_text(conf.read_text().replace("server_tokens off;", "server_tokens off;\n    proxy_passs x;"))
    done = nginx_t(spec.argv)
    assert done.returncode == 1 and 'unknown directive "proxy_passs"' in done.stderr


PROXIED = """\
name: gprod
contours:
  dev: {}
  stage: {ports: {offset: 100, set: {ui: 8081}}, weak_credentials: allow}
components:
  db: {kind: postgres, password: "${DB_PASSWORD:-dev-only-pw-123}"}
  web: {kind: nginx, port: 8180, routes: {/api: api, /: ui}}
  ui: {kind: adminer, server: db}
  managed: {kind: external, serves: postgres, url: "postgresql://admin:managed-pw-1@db.example.com:6543/main"}
services:
  api: {command: python3 app.py, port: 3000, depends_on: [db, managed]}
"""


def test_compose_and_kubernetes_renders_pass_the_real_validators(tmp_path: Path) -> None:  # noqa: F811
    """nginx from its image with the generated nginx.conf mounted, adminer pointed at db, the external one absent
    (the api gets its URL): docker-compose config, kustomize + kubernetes-validate, and nginx -t on both configs."""
    import yaml

    from stapel.engine.stack import open_stack
    from stapel.render import compose, k8s
    from stapel.render.compose_vars import env_text

    (tmp_path / "api").mkdir()
    (tmp_path / "stapel.yaml").write_text(PROXIED.replace("cwd: api, ", "").replace("python3 app.py,", "python3 app.py, cwd: api,"))
    (tmp_path / "api" / "Dockerfile").write_text("FROM python:3.12-slim\n")
    stack = open_stack(tmp_path / "stapel.yaml", "dev", env={})
    out = tmp_path / "compose"
    out.mkdir()
    doc, refs = compose.build(stack, out)
    (out / "compose.yaml").write_text(compose.document_text(stack, doc))
    (out / ".env.compose").write_text(env_text(stack, refs))
    assert compose.write_support_files(stack, out) == ["files/web/nginx.conf"]
    validators.docker_compose_config(out)
    services = doc["services"]
    assert "managed" not in services and "managed" not in services["api"]["depends_on"]
    assert services["api"]["environment"]["MANAGED_URL"] == "postgresql://admin:${MANAGED_PASSWORD}@db.example.com:6543/main"
    assert services["web"]["volumes"][1] == "./files/web/nginx.conf:/etc/nginx/nginx.conf:ro"
    assert services["ui"]["environment"] == {"ADMINER_DEFAULT_SERVER": "db"}
    compose_conf = (out / "files/web/nginx.conf").read_text()
    assert "resolver 127.0.0.11" in compose_conf and "set $upstream http://api:3000;" in compose_conf

    loaded = {c: open_stack(tmp_path / "stapel.yaml", c, env={}) for c in ("dev", "stage")}
    k8s_out = tmp_path / "k8s"
    k8s.write(k8s_out, k8s.render(loaded, tag="v1"), k8s.secret_env_files(loaded))
    for contour in ("dev", "stage"):
        docs = validators.kustomize_and_validate(k8s_out, contour, tmp_path)
        names = {(d["kind"], d["metadata"]["name"]) for d in docs}
        assert ("ConfigMap", "web-files") in names and not any(name == "managed" for _, name in names)
    files = next(d for d in yaml.safe_load_all((k8s_out / "base" / "web.yaml").read_text()) if d["metadata"]["name"] == "web-files")
    k8s_conf = files["data"]["nginx.conf"]
    assert "proxy_pass http://api:3000;" in k8s_conf and "resolver" not in k8s_conf

    # as the image runs them, bar its user (nginx) and pid path; Kubernetes' Service names resolve in the cluster only
    for conf in (compose_conf, re.sub(r"http://[a-z-]+:", "http://127.0.0.1:", k8s_conf)):
        local = tmp_path / "check.conf"
        local.write_text(conf.replace("user nginx;", f"pid {tmp_path}/check.pid;"))
        done = nginx_t(["nginx", "-p", f"{tmp_path}/", "-c", str(local), "-e", "stderr"])
        assert done.returncode == 0, done.stderr
