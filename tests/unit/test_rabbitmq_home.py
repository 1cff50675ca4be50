"""RabbitMQ's private minimal home: which installed layouts get one, what it holds, and every way back to stock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stapel.components import rabbitmq_home as home

ENV_SCRIPT = 'RABBITMQ_HOME="$(rmq_realpath "${RABBITMQ_SCRIPTS_DIR}/..")"\n'


def app(plugins: Path, name: str, version: str, needs: list[str]) -> None:
    ebin = plugins / f"{name}-{version}" / "ebin"
    ebin.mkdir(parents=True)
    (ebin / f"{name}.app").write_text(
        f"{{application,{name},\n [{{description,\"x\"}},\n  {{applications,\n   [{', '.join(needs)}]}},\n"
        f"  {{env,[]}}]}}.\n")


def layout(tmp_path: Path, version: str = "3.10.8", env_script: str = ENV_SCRIPT) -> Path:
    """A fake installed RabbitMQ: rabbit needs rabbit_common (and OTP's kernel), management needs web_dispatch, which
    needs cowboy; shovel is installed and needed by nobody."""
    stock = tmp_path / f"rabbitmq_server-{version}"
    (stock / "sbin").mkdir(parents=True)
    (stock / "escript").mkdir()
    (stock / "sbin" / "rabbitmq-env").write_text(env_script)
    (stock / "sbin" / "rabbitmq-defaults").write_text("")
    (stock / "sbin" / "rabbitmq-server").write_text("")
    plugins = stock / "plugins"
    app(plugins, "rabbit", version, ["kernel", "stdlib", "rabbit_common", "rabbitmq_prelaunch"])
    app(plugins, "rabbit_common", version, ["kernel", "crypto"])
    app(plugins, "rabbitmq_prelaunch", version, ["kernel"])
    app(plugins, "rabbitmq_management", version, ["rabbit", "rabbitmq_web_dispatch"])
    app(plugins, "rabbitmq_web_dispatch", version, ["cowboy"])
    app(plugins, "cowboy", "2.8.0", ["ranch"])
    app(plugins, "ranch", "2.1.0", [])
    app(plugins, "rabbitmq_shovel", version, ["rabbit"])
    return stock / "sbin" / "rabbitmq-server"


def test_the_home_holds_the_closure_of_rabbit_and_the_enabled_plugins(tmp_path: Path) -> None:
    chosen = home.plan(str(layout(tmp_path)), ["rabbitmq_management"], {})
    assert chosen.why_not is None
    assert sorted(chosen.plugins) == ["cowboy", "rabbit", "rabbit_common", "rabbitmq_management", "rabbitmq_prelaunch",
                                      "rabbitmq_web_dispatch", "ranch"]
    target = tmp_path / "conf" / "home"
    target.parent.mkdir()
    home.build(target, chosen)
    before = (target / "plugins").stat().st_ino
    home.build(target, chosen)  # unchanged: left alone (a running node loads from it)
    assert (target / "plugins").stat().st_ino == before
    (target / "plugins" / "stray").symlink_to(tmp_path)
    home.build(target, chosen)  # anything else: rebuilt, not merged
    assert not (target / "plugins" / "stray").exists()
    assert sorted(p.name for p in (target / "plugins").iterdir()) == sorted(p.name for p in chosen.plugins.values())
    assert os.readlink(target / "sbin" / "rabbitmq-defaults").endswith("sbin/rabbitmq-defaults")
    assert (target / "escript").is_symlink()
    assert [p.name for p in target.parent.iterdir()] == ["home"]  # nothing left aside
    assert home.env_of(target) == {"RABBITMQ_SCRIPTS_DIR": str(target / "sbin"), "RABBITMQ_PLUGINS_DIR": str(target / "plugins")}


def test_a_symlinked_server_script_is_followed_to_its_layout(tmp_path: Path) -> None:
    link = tmp_path / "bin" / "rabbitmq-server"
    link.parent.mkdir()
    link.symlink_to(layout(tmp_path))
    assert home.plan(str(link), [], {}).why_not is None


@pytest.mark.parametrize(("version", "supported"), [("3.8.35", False), ("3.9.29", True), ("3.12.14", True),
                                                    ("3.13.7", False), ("4.0.5", False)])
def test_only_3_9_to_3_12_get_a_home(tmp_path: Path, version: str, supported: bool) -> None:
    why = home.plan(str(layout(tmp_path, version)), [], {}).why_not
    assert (why is None) == supported, why
    if not supported:
        assert "not a RabbitMQ 3.9-3.12 layout" in why


def test_scripts_that_do_not_derive_the_home_keep_the_stock_layout(tmp_path: Path) -> None:
    why = home.plan(str(layout(tmp_path, env_script='RABBITMQ_HOME="/opt/rabbitmq"\n')), [], {}).why_not
    assert why and "does not derive RABBITMQ_HOME" in why


def test_a_plugin_that_is_not_installed_keeps_the_stock_layout(tmp_path: Path) -> None:
    why = home.plan(str(layout(tmp_path)), ["rabbitmq_management", "rabbitmq_nonexistent"], {}).why_not
    assert why and "not installed" in why and "rabbitmq_nonexistent" in why


def test_ez_archives_keep_the_stock_layout(tmp_path: Path) -> None:
    server = layout(tmp_path)
    (server.parents[1] / "plugins" / "rabbitmq_top-3.10.8.ez").write_bytes(b"PK")
    why = home.plan(str(server), [], {}).why_not
    assert why and ".ez archives" in why


@pytest.mark.parametrize("variable", ["RABBITMQ_SCRIPTS_DIR", "RABBITMQ_PLUGINS_DIR"])
def test_the_users_own_dirs_keep_the_stock_layout(tmp_path: Path, variable: str) -> None:
    why = home.plan(str(layout(tmp_path)), [], {variable: "/somewhere"}).why_not
    assert why and variable in why


def test_an_unreadable_or_missing_layout_keeps_the_stock_layout(tmp_path: Path) -> None:
    server = layout(tmp_path)
    (server.parent / "rabbitmq-env").unlink()
    why = home.plan(str(server), [], {}).why_not
    assert why and "rabbitmq_server-3.10.8" in why
