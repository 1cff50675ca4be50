"""Defaults that keep data: Redis's append-only file (never switched on over an existing snapshot, which Redis
7.0 would start empty from), and components that restart unless told not to."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from stapel.components import redis as redis_kind
from stapel.components.base import Node
from stapel.paths import Paths


def _render(tmp_path: Path) -> str:
    config = SimpleNamespace(password=None)
    ctx = SimpleNamespace(paths=Paths(tmp_path, "dev"))
    return redis_kind._render(Node("cache", "redis", config, {"main": 6379}), ctx)


def test_a_new_redis_data_dir_gets_an_append_only_file_fsynced_every_second(tmp_path: Path) -> None:
    conf = _render(tmp_path)
    assert "appendonly yes\n" in conf and "appendfsync everysec\n" in conf


def test_a_redis_data_dir_with_only_a_snapshot_keeps_snapshots(tmp_path: Path) -> None:
    data = Paths(tmp_path, "dev").data("cache")
    data.mkdir(parents=True)
    (data / "dump.rdb").write_bytes(b"REDIS0009")
    assert "appendonly no\n" in _render(tmp_path)
    (data / "appendonlydir").mkdir()
    assert "appendonly yes\n" in _render(tmp_path)


def test_components_restart_on_failure_by_default_and_services_do_not(tmp_path: Path) -> None:
    from stapel.components import load

    (tmp_path / "stapel.yaml").write_text(
        "components:\n  db: {kind: postgres}\n  cache: {kind: redis, restart: no}\n"
        "  mq: {kind: rabbitmq, restart: {backoff_seconds: 2}}\n"
        "services:\n  api: {command: [sleep, '1']}\n")
    model = load(tmp_path / "stapel.yaml", {}).model
    assert model.components["db"].restart.model_dump() == {
        "policy": "on-failure", "backoff_seconds": 0.5, "max_backoff_seconds": 30.0, "max_restarts": 10}
    assert model.components["cache"].restart.policy == "no"
    assert (model.components["mq"].restart.policy, model.components["mq"].restart.backoff_seconds) == ("on-failure", 2.0)
    assert model.services["api"].restart.policy == "no"
