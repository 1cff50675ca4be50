"""RabbitMQ's private minimal home: which installed layouts get one, what it holds, and every way back to stock."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from stapel.components import rabbitmq_code as code
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
    assert home.env_of(target) == {"RABBITMQ_SCRIPTS_DIR": str(target / "sbin"), "RABBITMQ_PLUGINS_DIR": str(target / "plugins"),
                                   "RABBITMQ_SERVER_CODE_PATH": str(target / "code")}


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


@pytest.mark.parametrize("variable", ["RABBITMQ_SCRIPTS_DIR", "RABBITMQ_PLUGINS_DIR", "RABBITMQ_SERVER_CODE_PATH"])
def test_the_users_own_dirs_keep_the_stock_layout(tmp_path: Path, variable: str) -> None:
    why = home.plan(str(layout(tmp_path)), [], {variable: "/somewhere"}).why_not
    assert why and variable in why


def test_an_unreadable_or_missing_layout_keeps_the_stock_layout(tmp_path: Path) -> None:
    server = layout(tmp_path)
    (server.parent / "rabbitmq-env").unlink()
    why = home.plan(str(server), [], {}).why_not
    assert why and "rabbitmq_server-3.10.8" in why


def no_erl_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH with cp and nice but no erl: the tree holds the layout's modules only (quick)."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("cp", "nice"):
        (tools / name).symlink_to(shutil.which(name))
    monkeypatch.setenv("PATH", str(tools))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_the_code_folder_holds_every_module_and_app_once_and_the_home_links_to_it(tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    no_erl_path(tmp_path, monkeypatch)
    chosen = home.plan(str(layout(tmp_path)), ["rabbitmq_management"], {})
    for folder in chosen.plugins.values():
        (folder / "ebin" / f"{folder.name.rsplit('-', 1)[0]}_mod.beam").write_bytes(b"FOR1")
    key = code.key_of(chosen.plugins)
    assert key["otp"] is None and code.ready(key) is None  # nothing built yet
    code.build_in_background(key, chosen.plugins).join()
    folder = code.ready(key)
    assert folder is not None and folder.parent == code.entry_of(key)
    wanted = sorted([f"{name}_mod.beam" for name in chosen.plugins] + [f"{name}.app" for name in chosen.plugins])
    assert sorted(p.name for p in folder.iterdir()) == wanted  # one flat folder: each module and .app once
    for name, plugin in chosen.plugins.items():
        assert (folder / f"{name}_mod.beam").resolve() == (plugin / "ebin" / f"{name}_mod.beam").resolve()
        assert (folder / f"{name}.app").resolve() == (plugin / "ebin" / f"{name}.app").resolve()
    target = tmp_path / "conf" / "home"
    target.parent.mkdir()
    home.build(target, chosen)  # before the folder is there: an empty code folder ...
    assert (target / "code").is_dir() and not (target / "code").is_symlink() and not any((target / "code").iterdir())
    plugins = sorted(p.name for p in (target / "plugins").iterdir())
    assert plugins == sorted(p.name for p in chosen.plugins.values()) and all((target / "plugins" / p).is_symlink() for p in plugins)
    home.build(target, chosen, folder)  # ... then linked to it; the plugins stay the installed ones (small ebins)
    assert (target / "code").is_symlink() and (target / "code").resolve() == folder.resolve()
    assert sorted(p.name for p in (target / "plugins").iterdir()) == plugins
    assert (target / "sbin" / "rabbitmq-defaults").is_symlink()
    home.build(target, chosen)  # and back, when the folder is gone
    assert not (target / "code").is_symlink() and (target / "code").is_dir()
    assert home.env_of(target)["RABBITMQ_SERVER_CODE_PATH"] == str(target / "code")  # the same env either way


def test_an_unusable_module_tree_is_not_used_and_a_failed_build_leaves_nothing(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    no_erl_path(tmp_path, monkeypatch)
    chosen = home.plan(str(layout(tmp_path)), ["rabbitmq_management"], {})
    key = code.key_of(chosen.plugins)
    entry = code.entry_of(key)
    (entry / "code").mkdir(parents=True)
    assert code.ready(key) is None  # no key.json: half-built
    (entry / "key.json").write_text("{not json")
    assert code.ready(key) is None
    (entry / "key.json").write_text(json.dumps({**key, "plugins": []}))
    assert code.ready(key) is None  # made for another plugin set
    shutil.rmtree(tmp_path / "cache")
    (tmp_path / "cache").write_text("")  # the cache cannot be made: the build fails quietly, the plain home stays
    code.build_in_background(key, chosen.plugins).join()
    assert code.ready(key) is None
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache2"))
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no cp: same
    code.build_in_background(code.key_of(chosen.plugins), chosen.plugins).join()
    assert code.ready(code.key_of(chosen.plugins)) is None
    assert not (tmp_path / "cache2" / "stapel" / "rabbitmq-plugins").exists() or not any(
        (tmp_path / "cache2" / "stapel" / "rabbitmq-plugins").iterdir())
