"""examples/seed-003-gprod end to end, natively: dev, stage and prod side by side, each with Nginx in front of its own API
(NODE_ENV right per contour), its own Adminer on the seed's port (8080 dev, 8081 stage, 8082 prod) logging in to its own db, and
its API writing uploads into its own app_data_<contour> volume; plus the two repositories' .env that must agree, a
second `up` with nothing to do, and `down`. Replaces test_seed_examples.py (its seed-003 checks are here)."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import copy_example, processes_under, stapel, status, stop_and_clean, traversable_dir
from dotenv import dotenv_values

pytestmark = pytest.mark.integration
ADMINER = {"dev": 8080, "stage": 8081, "prod": 8082}
FIXED = {"stage": {"db": 5433, "redis": 6380, "api": 3100, "prometheus": 9190, "adminer": 8081, "nginx": 8100},
         "prod": {"db": 5434, "redis": 6381, "api": 3200, "prometheus": 9290, "adminer": 8082, "nginx": 8200}}


def busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http(method: str, url: str, data: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # the stack's own Nginx, API and Adminer
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def env_file(path: Path) -> dict[str, str]:
    return {key: value or "" for key, value in dotenv_values(path).items()}  # drops the `# stapel: secret` comments


def db_password(root: Path, contour: str) -> str:
    """The contour's db password as the API gets it (its DATABASE_URL), whatever the env files' quoting."""
    done = stapel(root, "--contour", contour, "env", "print", "--service", "api", "--format", "json", "--reveal", check=True)
    return urllib.parse.unquote(urllib.parse.urlsplit(json.loads(done.stdout)["DATABASE_URL"]).password or "")


def adminer_logs_in(port: int, db_port: int, password: str) -> str:
    """Adminer's login page points at this contour's db, and its login with the contour's password lands in gprod."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())  # Adminer's session cookie first
    try:
        opener.open(f"http://127.0.0.1:{port}/", timeout=15)
        raise AssertionError("Adminer's login page is a 403 once a server is chosen")
    except urllib.error.HTTPError as exc:
        code, page = exc.code, exc.read().decode(errors="replace")
    assert code == 403 and f'name="auth[server]" value="127.0.0.1:{db_port}"' in page, page[:500]
    form = urllib.parse.urlencode({"auth[driver]": "pgsql", "auth[server]": f"127.0.0.1:{db_port}", "auth[username]": "gprod",
                                   "auth[password]": password, "auth[db]": "gprod"}).encode()
    try:
        with opener.open(urllib.request.Request(f"http://127.0.0.1:{port}/", data=form), timeout=15) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:  # a refused login is Adminer's login page again, a 403
        return exc.read().decode(errors="replace")


@pytest.fixture
def gprod():
    busy_ports = sorted(p for p in {ADMINER["dev"], *FIXED["stage"].values(), *FIXED["prod"].values()} if busy(p))
    if busy_ports:
        pytest.skip(f"seed 003's fixed ports {busy_ports} are already in use on this machine (dev's Adminer 8080, "
                    f"stage's and prod's {FIXED}); free them to run this test")
    base = traversable_dir("seed-003-gprod")
    root = copy_example("seed-003-gprod", base)
    yield root
    for contour in FIXED:
        stapel(root, "--contour", contour, "down", timeout=120)
    assert not stop_and_clean(root, base)


def test_dev_stage_and_prod_side_by_side_through_nginx_with_adminer_and_app_data(gprod: Path) -> None:
    root = gprod
    stapel(root, "env", "sync", "--non-interactive", check=True)
    assert stapel(root, "env", "check").returncode == 0
    infra, backend, stage_env = env_file(root / ".env"), env_file(root / "backend/.env"), env_file(root / ".env.stage")
    keys = ("POSTGRES_PASSWORD", "JWT_SECRET", "PORT")
    assert {k: infra[k] for k in keys} == {k: backend[k] for k in keys}
    assert stage_env["JWT_SECRET"] != infra["JWT_SECRET"]  # generated per contour
    done = stapel(root, "up", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    dev = status(root)
    dev_ports = {name: int(node["endpoint"].rsplit(":", 1)[1]) for name, node in dev.items()}
    assert dev_ports["adminer"] == ADMINER["dev"] and dev["prometheus"]["state"] == "running"
    assert not {5433, 5434, 6380, 6381} & set(dev_ports.values()), dev_ports
    contours = {"dev": (dev_ports, db_password(root, "dev"), "development")}
    for contour, node_env in (("stage", "staging"), ("prod", "production")):  # next to dev, on the seed's ports
        done = stapel(root, "--contour", contour, "up", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        nodes = json.loads(stapel(root, "--contour", contour, "status", "--json", check=True).stdout)["nodes"]
        ports = {n["name"]: int(n["endpoint"].rsplit(":", 1)[1]) for n in nodes}
        assert ports == FIXED[contour], ports
        contours[contour] = (ports, db_password(root, contour), node_env)
    data_dirs = {}
    for contour, (ports, password, node_env) in contours.items():
        code, body = http("GET", f"http://127.0.0.1:{ports['nginx']}/health")  # through this contour's Nginx
        assert (code, json.loads(body)["ok"]) == (200, True), body
        code, body = http("GET", f"http://127.0.0.1:{ports['nginx']}/info")
        assert code == 200, body
        info = json.loads(body)
        assert info["node_env"] == node_env
        code, body = http("PUT", f"http://127.0.0.1:{ports['nginx']}/files/hello.txt", f"from {contour}".encode())
        assert code == 201, body
        volume = root / f".local/data/{contour}/app_data_{contour}"
        assert Path(info["data_dir"]) == volume.resolve() and (volume / "hello.txt").read_text() == f"from {contour}"
        assert http("GET", f"http://127.0.0.1:{ports['nginx']}/files/hello.txt") == (200, f"from {contour}")
        assert (root / f".local/data/{contour}/pgdata_{contour}/PG_VERSION").is_file()
        data_dirs[contour] = volume.resolve()
        page = adminer_logs_in(ADMINER[contour], ports["db"], password)
        assert "Logout" in page and "Invalid credentials" not in page, re.findall(r"<div class=.error.>(.*?)</div>", page) or page[-1500:]
    assert len(set(data_dirs.values())) == 3, data_dirs  # no contour shares another's data dir
    assert {n: v["state"] for n, v in status(root).items()} == dict.fromkeys(dev_ports, "running")  # dev untouched
    again = stapel(root, "up")
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr
    for contour in FIXED:
        assert stapel(root, "--contour", contour, "down", timeout=120).returncode == 0
    down = stapel(root, "down", timeout=120)
    assert down.returncode == 0, down.stderr
    assert processes_under(root) == []
