"""`stapel dashboard` in a real headless Chromium (Debian's chromium, driven by Playwright) against a real stack:
one PostgreSQL and one small Python HTTP service that logs stapel.kit-style JSON lines. Screenshots are saved
under the test's tmp dir and named in the output (pytest -s, or the -ra summary on failure)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import stapel, stapel_env, status, stop_and_clean, traversable_dir, wait_until

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

APP = '''
import json, os, time
from http.server import BaseHTTPRequestHandler, HTTPServer


def log(level, event, **fields):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(json.dumps({"event": event, "level": level, "timestamp": stamp, **fields}), flush=True)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path != "/health":
            log("info", "request served", path=self.path)
            log("error", "pretend failure", path=self.path)

    def log_message(self, *args):
        pass


log("info", "listening", port=int(os.environ["PORT"]))
HTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_project(folder: Path) -> None:
    (folder / "web").mkdir()
    (folder / "web" / "app.py").write_text(APP)
    (folder / "stapel.yaml").write_text(f"""
name: dashtest
components:
  db: {{kind: postgres, port: {free_port()}, database: app, password: dash-secret-pw-4711}}
services:
  web:
    command: python3 app.py
    cwd: web
    port: {free_port()}
    probe: {{http: {{path: /health}}, period_seconds: 0.1}}
    depends_on: {{db: {{condition: healthy}}}}
""")


def start_dashboard(folder: Path, *args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "stapel", "dashboard", *args], cwd=folder, env=stapel_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    found = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", line)
    if not found:
        proc.kill()
        raise AssertionError(f"no URL in the dashboard's first line: {line!r} {proc.stdout.read()}")
    return proc, found.group(1)


def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; ./dev setup installs it)")
    return playwright.sync_playwright()


@pytest.fixture
def stack_up():
    folder = traversable_dir("dashboard")
    write_project(folder)
    try:
        stapel(folder, "up", check=True)
        yield folder
    finally:
        leftovers = stop_and_clean(folder)
        assert not leftovers, f"processes left running: {leftovers}"


def test_dashboard_in_chromium(stack_up: Path, tmp_path: Path) -> None:
    folder = stack_up
    dashboard, url = start_dashboard(folder)
    shots = []
    try:
        base = url.split("/?")[0]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + "/api/state", timeout=5)
        assert refused.value.code == 403
        with pytest.raises(urllib.error.HTTPError) as no_header:  # the token in the query is not enough for an action
            token = url.split("token=")[1]
            urllib.request.urlopen(urllib.request.Request(f"{base}/api/restart?token={token}", data=b'{"node": "web"}',
                                                          method="POST"), timeout=5)
        assert no_header.value.code == 403

        nodes = status(folder)
        web_port = int(nodes["web"]["endpoint"].rsplit(":", 1)[1])
        with browser() as playwright:
            chrome = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = chrome.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector("#nodes tr[data-node=web] .health .healthy", timeout=20000)
            page.wait_for_selector("#nodes tr[data-node=db] .health .healthy", timeout=20000)
            assert page.inner_text("#nodes tr[data-node=db] .kind") == "postgres"
            assert page.inner_text("#nodes tr[data-node=web] .state") == "running"
            assert page.inner_text("#nodes tr[data-node=web] .pid") == str(nodes["web"]["pid"])
            assert "PostgreSQL" in page.inner_text("#nodes tr[data-node=db] .version")
            assert page.get_attribute("#nodes tr[data-node=web] .links a", "href") == f"http://127.0.0.1:{web_port}"
            assert "dash-secret-pw-4711" not in page.content()  # the env panel masks it

            page.select_option("#log-node", "web")
            marker = f"/marker-{int(time.time())}"
            urllib.request.urlopen(f"http://127.0.0.1:{web_port}{marker}", timeout=5).read()
            page.wait_for_selector(f"#log-lines .line.INFO:has-text('{marker}')", timeout=10000)
            assert "request served" in page.inner_text("#log-lines")
            page.select_option("#log-level", "ERROR")  # the level filter reads the JSON lines' `level`
            page.wait_for_function("!document.querySelector('#log-lines').innerText.includes('request served')")
            assert "pretend failure" in page.inner_text("#log-lines")
            page.select_option("#log-level", "DEBUG")
            page.fill("#log-search", "listening")
            page.wait_for_function("!document.querySelector('#log-lines').innerText.includes('pretend failure')")
            assert "listening" in page.inner_text("#log-lines")
            page.fill("#log-search", "")
            page.wait_for_selector("#runs details summary:has-text('stapel up')")
            assert page.locator("#env-table td", has_text="DATABASE_URL").count() >= 1
            shots.append(tmp_path / "dashboard-up.png")
            page.screenshot(path=str(shots[-1]), full_page=True)

            pid_before = page.inner_text("#nodes tr[data-node=web] .pid")
            restarts_before = page.inner_text("#nodes tr[data-node=web] .restarts")
            page.click("#nodes button[data-action=restart][data-node=web]")
            page.wait_for_function(
                "([pid, restarts]) => { const row = document.querySelector('#nodes tr[data-node=web]');"
                " return row && row.querySelector('.state').innerText === 'running' && row.querySelector('.pid').innerText !== '-'"
                " && (row.querySelector('.pid').innerText !== pid || row.querySelector('.restarts').innerText !== restarts); }",
                arg=[pid_before, restarts_before], timeout=60000)
            page.wait_for_selector("#toast:has-text('stapel restart --service web')")
            assert status(folder)["web"]["pid"] != int(pid_before)
            shots.append(tmp_path / "dashboard-restarted.png")
            page.screenshot(path=str(shots[-1]), full_page=True)
            chrome.close()
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=10)
        print("dashboard screenshots: " + ", ".join(str(s) for s in shots))


def test_dashboard_without_a_stack_says_so(tmp_path: Path) -> None:
    folder = traversable_dir("dashboard-empty")
    try:
        write_project(folder)
        dashboard, url = start_dashboard(folder)
        try:
            rest = dashboard.stdout.readline()
            assert "nothing runs for contour 'dev' yet" in rest
            state = json.loads(urllib.request.urlopen(url.replace("/?", "/api/state?"), timeout=5).read())
            assert state["running"] is False and state["nodes"] == []
            with browser() as playwright:
                chrome = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = chrome.new_page()
                page.goto(url)
                page.wait_for_selector("#banner:has-text('Nothing runs for contour')", timeout=10000)
                page.screenshot(path=str(tmp_path / "dashboard-empty.png"))
                chrome.close()
            print(f"dashboard screenshot: {tmp_path / 'dashboard-empty.png'}")
        finally:
            dashboard.terminate()
            dashboard.wait(timeout=10)
    finally:
        assert not stop_and_clean(folder)


def test_dashboard_port_in_use_is_one_line() -> None:
    folder = traversable_dir("dashboard-port")
    try:
        write_project(folder)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            done = stapel(folder, "dashboard", "--port", str(port), timeout=30)
            up = stapel(folder, "up", "--dashboard", "--dashboard-port", str(port), timeout=30)
        assert done.returncode == 1, done.stdout + done.stderr
        lines = (done.stdout + done.stderr).strip().splitlines()
        assert len(lines) <= 2 and f"port {port} on 127.0.0.1 is already in use" in lines[0], lines
        assert "Traceback" not in done.stderr
        assert up.returncode == 1 and f"port {port}" in up.stderr + up.stdout
        assert not (folder / ".local" / "run").exists() or not any((folder / ".local" / "run").rglob("*.json")), "up started something"
    finally:
        assert not stop_and_clean(folder)


def test_up_attach_dashboard_serves_until_ctrl_c() -> None:
    import signal

    folder = traversable_dir("dashboard-attach")
    try:
        write_project(folder)
        proc = subprocess.Popen([sys.executable, "-m", "stapel", "up", "--attach", "--dashboard"], cwd=folder, env=stapel_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            url, began = None, time.monotonic()
            while url is None and time.monotonic() - began < 120:
                line = proc.stdout.readline()
                found = re.search(r"dashboard: (http://127\.0\.0\.1:\d+/\?token=\S+)", line)
                url = found.group(1) if found else None
                assert line or proc.poll() is None, "up ended before printing the dashboard's URL"
            assert url, "no dashboard URL"
            state = wait_until(lambda: json.loads(urllib.request.urlopen(url.replace("/?", "/api/state?"), timeout=5).read()),
                               timeout=10)
            assert {n["name"]: n["state"] for n in state["nodes"]} == {"db": "running", "web": "running"}
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 130, out
            assert "is down" in out
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    finally:
        assert not stop_and_clean(folder)
