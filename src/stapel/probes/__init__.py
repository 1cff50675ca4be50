"""Readiness probes: tcp, http, exec, and each kind's own (PostgreSQL, Redis, AMQP, management API).

Fields follow process-compose (initial delay, period, timeout, failure threshold). A probe returns
(ok, detail); the waiting loop lives in stapel.engine.wait, which also watches the process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ProbeSpec:
    type: str  # tcp | http | exec | postgres | redis | amqp | rabbitmq | consul
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


class ProbeBug(RuntimeError):
    """A probe that raised something other than a failing target's errors: a bug in stapel, reported at once
    (exit 3 with a crash log), never retried until a timeout as if the target were slow."""


def run(spec: ProbeSpec) -> tuple[bool, str]:
    """Run one probe once. A failing target is (False, why); anything else raises ProbeBug."""
    import struct
    import sys

    from stapel.probes import checks

    http_client = sys.modules.get("http.client")  # imported only by the https probe; never imported: never raised
    target_errors = (OSError, struct.error, UnicodeError, *((http_client.HTTPException,) if http_client else ()))
    try:
        return checks.RUNNERS[spec.type](spec.params, spec.timeout_seconds)
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc.strerror or exc}"
    except target_errors as exc:  # a garbled answer: whatever listens there is not (yet) the server
        return False, f"{type(exc).__name__}: {exc}"
    except Exception as exc:
        raise ProbeBug(f"the {spec.type} probe raised {type(exc).__name__}: {exc}") from exc
