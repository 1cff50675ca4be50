"""Kinds the model accepts whose runners come later (consul, qdrant, grafana): clear errors, no guesses."""

from __future__ import annotations

from stapel.components.base import Node, probe_from_config
from stapel.errors import PreflightError
from stapel.probes import ProbeSpec

# kind -> (standard port, probe path)
STANDARD = {"consul": (8500, "/v1/status/leader"), "qdrant": (6333, "/readyz"), "grafana": (3000, "/api/health")}


def module_for(kind: str):  # noqa: ANN201
    port, path = STANDARD[kind]

    class _Kind:
        DEFAULT_PORTS = {"main": port}
        INTERNAL_PORTS: tuple[str, ...] = ()

        @staticmethod
        def configured_ports(config) -> dict[str, int]:
            return {"main": config.port or port}

        @staticmethod
        def probe(node: Node) -> ProbeSpec:
            return probe_from_config(node, ProbeSpec("http", {"port": node.port, "path": path}, period_seconds=0.1, failure_threshold=300))

        @staticmethod
        def exports(node: Node, use=None):  # noqa: ANN001, ANN205
            from stapel.env.connections import Exports, http_url

            url = http_url(node.port)
            return Exports({f"{kind.upper()}_URL": url}, {"URL": url, "HOST": "127.0.0.1", "PORT": str(node.port)})

        @staticmethod
        def secrets(config) -> list[str]:
            return [config.password] if getattr(config, "password", None) else []

        @staticmethod
        def native(node: Node, ctx):  # noqa: ANN205, ANN001
            raise PreflightError(
                f"components.{node.name}: the native runtime cannot run kind '{kind}' yet",
                hint="remove it from this contour for now; its native, Compose and Kubernetes runners are planned",
            )

        prepare = native

    _Kind.__name__ = kind
    return _Kind
