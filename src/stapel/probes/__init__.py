"""Readiness probes: one class per probe type, each knowing how it checks natively and how it looks as a Compose
healthcheck and a Kubernetes probe (forms.py). The generic types (tcp, http, exec) are in generic.py; a kind's own
probe type is named after the kind and defined in its module (components/<kind>.py), registered as it is imported
(components/probing.py imports it for a recorded probe).

ProbeSpec is the probe as data (its type's name and parameters; JSON in pid files and stack.json). Its fields follow
process-compose (initial delay, period, timeout, failure threshold). A probe returns (ok, detail); the waiting loop
lives in stapel.engine.wait, which also watches the process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

Result = tuple[bool, str]


@dataclass(frozen=True)
class ProbeSpec:
    type: str  # a Probe type's name: tcp | http | exec | a kind's own
    params: dict[str, Any] = field(default_factory=dict)
    initial_delay_seconds: float = 0.0
    period_seconds: float = 0.1
    timeout_seconds: float = 1.0
    failure_threshold: int = 300

    @property
    def budget_seconds(self) -> float:
        """How long a start may wait for this probe before giving up."""
        return self.initial_delay_seconds + self.failure_threshold * self.period_seconds


def record(spec: ProbeSpec | None) -> dict[str, Any] | None:
    """The probe as stored under .local (pid files, stack.json): without its password. `check` reads it
    back and probes without credentials, which the kinds' own probes accept as "up"."""
    if spec is None:
        return None
    from dataclasses import asdict

    data = asdict(spec)
    data["params"] = {k: v for k, v in data["params"].items() if k != "password"}
    return data


@dataclass(frozen=True)
class InContainer:
    """Where a probe runs when rendered: inside the node's own container."""

    port: int | None  # the probe's port as the container has it
    http_client: str = "curl|wget"  # what the image has for an HTTP GET: curl|wget, wget, bash, curl|wget|python3
    secret: Callable[[str, str], str] = lambda key, value: f"$({key})"  # (env key, value) -> its reference
    text: Callable[[str], str] = str  # a literal as written there (Compose doubles `$`)


class Probe:
    """One probe type. Subclasses that set `type` are registered under it."""

    type: ClassVar[str]
    kubernetes_timeout: ClassVar[int] = 1  # the least timeoutSeconds its Kubernetes form needs

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" in cls.__dict__:
            TYPES[cls.type] = cls

    def check(self, params: dict[str, Any], timeout: float) -> Result:
        """Check once, natively (from this machine)."""
        raise NotImplementedError

    def compose_test(self, params: dict[str, Any], where: InContainer) -> list[str]:
        """The `test:` of a Compose healthcheck."""
        raise NotImplementedError

    def kubernetes_check(self, params: dict[str, Any], where: InContainer) -> dict[str, Any]:
        """The handler of a Kubernetes probe (httpGet, tcpSocket or exec)."""
        raise NotImplementedError


TYPES: dict[str, type[Probe]] = {}


def probe_type(name: str) -> Probe:
    from stapel.probes import generic  # noqa: F401  (registers tcp, http, exec)

    if name not in TYPES:
        raise ProbeBug(f"no probe type '{name}' is registered (known: {', '.join(sorted(TYPES))})")
    return TYPES[name]()


class ProbeBug(RuntimeError):
    """A probe that raised something other than a failing target's errors: a bug in stapel, reported at once
    (exit 3 with a crash log), never retried until a timeout as if the target were slow."""


def run(spec: ProbeSpec) -> tuple[bool, str]:
    """Run one probe once. A failing target is (False, why); anything else raises ProbeBug."""
    import struct
    import sys

    http_client = sys.modules.get("http.client")  # imported only by the https probe; never imported: never raised
    target_errors = (OSError, struct.error, UnicodeError, *((http_client.HTTPException,) if http_client else ()))
    probe = probe_type(spec.type)
    try:
        return probe.check(spec.params, spec.timeout_seconds)
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc.strerror or exc}"
    except target_errors as exc:  # a garbled answer: whatever listens there is not (yet) the server
        return False, f"{type(exc).__name__}: {exc}"
    except Exception as exc:
        raise ProbeBug(f"the {spec.type} probe raised {type(exc).__name__}: {exc}") from exc
