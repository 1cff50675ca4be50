"""The probe types stapel.yaml's `probe:` offers, for any node: tcp, http, exec. Rendered, each runs inside the node's
own image with what that image has (InContainer.http_client: the kind's CONTAINER says)."""

from __future__ import annotations

from typing import Any

from stapel.probes import InContainer, Probe, Result, checks

HOST = "127.0.0.1"  # a health check runs inside the node's own container


class Tcp(Probe):
    type = "tcp"

    def check(self, params: dict[str, Any], timeout: float) -> Result:
        return checks.tcp(params, timeout)

    def compose_test(self, params: dict[str, Any], where: InContainer) -> list[str]:
        return ["CMD-SHELL", f"nc -z {HOST} {where.port} || bash -c ': </dev/tcp/{HOST}/{where.port}'"]

    def kubernetes_check(self, params: dict[str, Any], where: InContainer) -> dict[str, Any]:
        return {"tcpSocket": {"port": where.port}}


class Http(Probe):
    type = "http"

    def check(self, params: dict[str, Any], timeout: float) -> Result:
        return checks.http(params, timeout)

    def compose_test(self, params: dict[str, Any], where: InContainer) -> list[str]:
        path = params.get("path") or "/"
        url = f"{params.get('scheme') or 'http'}://{HOST}:{where.port}{where.text(path)}"
        if where.http_client == "wget":
            return ["CMD", "wget", "-q", "-O", "/dev/null", url]
        if where.http_client == "bash":  # an image with bash but no curl, wget or nc: the GET over bash's /dev/tcp
            return ["CMD", "bash", "-c", where.text(bash_get(where.port, path))]
        tries = [f"curl -fsS -o /dev/null '{url}'", f"wget -q -O /dev/null '{url}'"]
        if "python3" in where.http_client.split("|"):  # a project image may have neither curl nor wget (python:*-slim)
            tries.append(f"python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' '{url}'")
        return ["CMD-SHELL", " || ".join(tries)]

    def kubernetes_check(self, params: dict[str, Any], where: InContainer) -> dict[str, Any]:
        return {"httpGet": {"path": params.get("path") or "/", "port": where.port,
                            "scheme": str(params.get("scheme") or "http").upper()}}


def bash_get(port: int | None, path: str) -> str:
    """A bash script that GETs `path` over /dev/tcp: healthy on a 200 status line."""
    return (f"exec 3<>/dev/tcp/{HOST}/{port} && printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' >&3 && read -r status <&3 "
            "&& [[ $status == *' 200 '* ]]")


class Exec(Probe):
    type = "exec"

    def check(self, params: dict[str, Any], timeout: float) -> Result:
        return checks.exec_(params, timeout)

    def compose_test(self, params: dict[str, Any], where: InContainer) -> list[str]:
        return ["CMD", *(where.text(a) for a in params["command"])]

    def kubernetes_check(self, params: dict[str, Any], where: InContainer) -> dict[str, Any]:
        return {"exec": {"command": list(params["command"])}}
