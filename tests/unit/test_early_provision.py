"""engine/provisioning.py: each component provisioned as soon as it is healthy, collected by the provision step in the
components' order (issue 16: what is left after the slowest component's boot is its own provisioning)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from stapel.engine import provisioning
from stapel.engine.runlog import StepRecord


class Recorder:
    """A stand-in for provision.steps.run_one: per node, lines said, changes, whether declared, a delay or a failure."""

    def __init__(self, plan: dict[str, dict[str, Any]]):
        self.plan, self.began, self.ended = plan, {}, {}

    def __call__(self, stack: Any, node: Any, log: Any) -> tuple[list[str], bool]:
        what = self.plan[node.name]
        self.began[node.name] = time.monotonic()
        log(f"{node.name}: looking")
        time.sleep(what.get("delay", 0))
        self.ended[node.name] = time.monotonic()
        if "fail" in what:
            raise what["fail"]
        return list(what.get("changes", [])), what.get("declared", False)


def stack(*names: str) -> Any:
    return SimpleNamespace(nodes={name: SimpleNamespace(name=name) for name in names})


def record(tmp_path: Path) -> StepRecord:
    path = tmp_path / "04_provision.log"
    path.touch()
    return StepRecord(4, "provision", path, lambda text: text)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch):
    def use(plan: dict[str, dict[str, Any]]) -> Recorder:
        fake = Recorder(plan)
        monkeypatch.setattr("stapel.provision.steps.run_one", fake)
        return fake
    return use


def test_a_component_is_provisioned_when_healthy_not_when_the_step_comes(tmp_path: Path, recorder) -> None:
    fake = recorder({"db": {"changes": ["db: created database app"], "declared": True}, "mq": {"declared": True}})
    early = provisioning.EarlyProvision(stack("db", "mq"), ["db", "mq"])
    early.healthy("db")
    deadline = time.monotonic() + 5
    while "db" not in fake.ended and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "db" in fake.ended and "mq" not in fake.began  # db done while mq still "boots"
    step = record(tmp_path)
    assert early.collect(step) == ["db: created database app"]
    assert "mq" in fake.began  # the one never reported healthy runs at the step
    lines = step.log_path.read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["db: looking", "mq: looking"]


def test_lines_keep_the_time_they_were_said_and_the_components_order(tmp_path: Path, recorder) -> None:
    recorder({"a": {"delay": 0.3, "declared": True}, "b": {"declared": True}})
    early = provisioning.EarlyProvision(stack("a", "b"), ["a", "b"])
    early.healthy("b")
    time.sleep(0.15)
    early.healthy("a")
    step = record(tmp_path)
    early.collect(step)
    lines = step.log_path.read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["a: looking", "b: looking"]  # stapel.yaml's order
    assert lines[1].split(" ")[0] < lines[0].split(" ")[0]  # b said its line first, and its stamp says so


def test_nothing_declared_and_nothing_changed_is_none(tmp_path: Path, recorder) -> None:
    recorder({"a": {}, "b": {}})
    early = provisioning.EarlyProvision(stack("a", "b"), ["a", "b"])
    assert early.collect(record(tmp_path)) is None


def test_the_first_failure_in_order_surfaces_at_the_step_after_the_others_finished(tmp_path: Path, recorder) -> None:
    from stapel.errors import StapelError

    fake = recorder({"a": {"declared": True, "delay": 0.2}, "b": {"fail": StapelError("b: password authentication failed")},
                     "c": {"fail": StapelError("c: refused")}})
    early = provisioning.EarlyProvision(stack("a", "b", "c"), ["a", "b", "c"])
    early.healthy("c")
    with pytest.raises(StapelError, match="b: password"):
        early.collect(record(tmp_path))
    assert set(fake.ended) == {"a", "b", "c"}


def test_close_waits_for_work_under_way_and_starts_nothing_new(recorder) -> None:
    fake = recorder({"a": {"delay": 0.3}, "b": {}})
    early = provisioning.EarlyProvision(stack("a", "b"), ["a", "b"])
    early.healthy("a")
    time.sleep(0.05)
    early.close()  # a rollback: the server a worker talks to must not be stopped under it
    assert "a" in fake.ended
    early.healthy("b")
    assert "b" not in fake.began


def test_services_and_unknown_names_are_not_provisioned(recorder) -> None:
    fake = recorder({"db": {}})
    early = provisioning.EarlyProvision(stack("db", "api"), ["db"])
    early.healthy("api")
    early.close()
    assert fake.began == {}


def test_healthy_reported_by_many_waits_at_once_provisions_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    lock = threading.Lock()

    def counting(stack: Any, node: Any, log: Any) -> tuple[list[str], bool]:
        with lock:
            calls.append(node.name)
        return [], True

    monkeypatch.setattr("stapel.provision.steps.run_one", counting)
    early = provisioning.EarlyProvision(stack("db"), ["db"])
    threads = [threading.Thread(target=early.healthy, args=("db",)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    early.collect(record(tmp_path))
    assert calls == ["db"]
