"""nginx and Adminer started by stapel itself, natively: a request proxied through nginx to a running service, and
Adminer's login form (pointed at a stapel-started PostgreSQL) posted the way a browser does, logged in."""

from __future__ import annotations

import http.cookiejar
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import processes_under, stapel, status

pytestmark = pytest.mark.integration

APP = """\
import http.server, json, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "host": self.headers["Host"], "forwarded": self.headers["X-Forwarded-For"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
"""

STACK = """\
name: proxied
components:
  db: {{kind: postgres, user: gprod, password: s3cret-gprod-pw, database: gprod, port: {db}}}
  web: {{kind: nginx, port: {web}, routes: {{/api: api}}}}
  ui: {{kind: adminer, port: {ui}, server: db}}
services:
  api: {{command: python3 app.py, port: {api}}}
"""


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def get(url: str, opener=None) -> tuple[int, str, str]:
    try:
        with (opener or urllib.request.build_opener()).open(url, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as exc:  # Adminer's login page is a 403 once a server is chosen
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def test_nginx_proxies_to_the_service_and_adminer_logs_in_to_postgres(project: Path) -> None:
    db, web, ui, api = free_ports(4)
    (project / "app.py").write_text(APP)
    (project / "stapel.yaml").write_text(STACK.format(db=db, web=web, ui=ui, api=api))
    stapel(project, "up", check=True)
    nodes = status(project)
    assert {name: node["endpoint"] for name, node in nodes.items()} == {
        "db": f"127.0.0.1:{db}", "web": f"127.0.0.1:{web}", "ui": f"127.0.0.1:{ui}", "api": f"127.0.0.1:{api}"}

    code, kind, body = get(f"http://127.0.0.1:{web}/api/users?x=1")
    assert (code, kind) == (200, "application/json")
    assert '"path": "/api/users?x=1"' in body and f'"host": "127.0.0.1:{web}"' in body and '"forwarded": "127.0.0.1"' in body
    assert get(f"http://127.0.0.1:{web}/apix")[0] == 404  # a prefix is a path segment: /apix is no route

    jar = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    code, _, page = get(f"http://127.0.0.1:{ui}/", jar)
    assert code == 403 and "<h2>Login</h2>" in page  # Adminer's login page once a server is chosen
    assert '<option value="pgsql" selected>PostgreSQL' in page
    assert f'name="auth[server]" value="127.0.0.1:{db}"' in page and 'id="username" value="gprod"' in page
    stylesheet = re.search(r'<link rel="stylesheet" type="text/css" href="([^"]+)"', page).group(1)
    code, kind, css = get(urllib.parse.urljoin(f"http://127.0.0.1:{ui}/", stylesheet.replace("&amp;", "&")), jar)
    assert (code, kind.split(";")[0]) == (200, "text/css") and "body" in css

    form = urllib.parse.urlencode({"auth[driver]": "pgsql", "auth[server]": f"127.0.0.1:{db}", "auth[username]": "gprod",
                                   "auth[password]": "s3cret-gprod-pw", "auth[db]": "gprod"}).encode()
    with jar.open(urllib.request.Request(f"http://127.0.0.1:{ui}/", data=form), timeout=10) as response:
        landed, after = response.geturl(), response.read().decode()  # the 302 after a login is followed
    assert f"pgsql=127.0.0.1%3A{db}" in landed and "username=gprod" in landed, landed
    assert "Logout" in after and "gprod" in after and "Invalid credentials" not in after

    wrong = form.replace(b"s3cret-gprod-pw", b"not-the-password")
    fresh = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    get(f"http://127.0.0.1:{ui}/", fresh)
    _, _, refused = get_post(fresh, f"http://127.0.0.1:{ui}/", wrong)
    assert "Logout" not in refused and "password authentication failed" in refused

    stapel(project, "down", check=True)
    assert not processes_under(project)


def get_post(opener, url: str, data: bytes) -> tuple[int, str, str]:
    try:
        with opener.open(urllib.request.Request(url, data=data), timeout=10) as response:
            return response.status, response.geturl(), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, url, exc.read().decode()
