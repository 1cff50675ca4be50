"""A service's named volume natively: a folder under .local/data that outlives the service's restarts and
`stapel down`, handed to it as <NAME>_DIR, and deleted by `down --volumes`."""

from __future__ import annotations

from pathlib import Path

from conftest import stapel

APP = """\
import http.server, os, pathlib
folder = pathlib.Path(os.environ["AT_DIR"])
starts = folder / "starts"
starts.write_text(str(int(starts.read_text()) + 1 if starts.exists() else 1))
http.server.HTTPServer((os.environ["HOST"], int(os.environ["PORT"])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""

STACK = """\
services:
  worker:
    command: python3 app.py
    port: {port}
    volumes: {{at: /var/lib/worker/at}}
"""


def test_a_volume_outlives_down_and_goes_with_down_volumes(project: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (project / "app.py").write_text(APP)
    (project / "stapel.yaml").write_text(STACK.format(port=port))
    starts = project / ".local" / "data" / "dev" / "worker.at" / "starts"
    stapel(project, "up", check=True)
    assert starts.read_text() == "1"
    printed = stapel(project, "env", "print", "--service", "worker", check=True).stdout
    assert f'AT_DIR="{starts.parent}"' in printed
    stapel(project, "down", check=True)
    stapel(project, "up", check=True)
    assert starts.read_text() == "2"  # the same folder: what the service kept is still there
    stapel(project, "down", "--volumes", "--yes", check=True)
    assert not starts.parent.exists()
