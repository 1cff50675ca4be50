"""A probe's timing as a Compose healthcheck and as Kubernetes startup/readiness/liveness probes; the check itself
comes from its type (Probe.compose_test, Probe.kubernetes_check)."""

from __future__ import annotations

import math
from typing import Any

from stapel.probes import InContainer, ProbeSpec, probe_type

STARTUP_FLOOR_SECONDS = 60  # stapel's budgets are for local processes; a pod may first run initdb on network storage


def duration(seconds: float) -> str:
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


def compose_healthcheck(spec: ProbeSpec, where: InContainer) -> dict[str, Any]:
    """The probe's budget (period x threshold) at an interval of at least 1 s."""
    test = probe_type(spec.type).compose_test(spec.params, where)
    interval = max(spec.period_seconds, 1.0)
    check = {"test": test, "interval": duration(interval), "timeout": duration(spec.timeout_seconds),
             "retries": max(1, math.ceil(spec.period_seconds * spec.failure_threshold / interval))}
    if spec.initial_delay_seconds:
        check["start_period"] = duration(spec.initial_delay_seconds)
    return check


def kubernetes_probes(spec: ProbeSpec, where: InContainer) -> dict[str, Any]:
    """startupProbe with the probe's budget (at least STARTUP_FLOOR_SECONDS), readiness and liveness at a calmer pace."""
    probe = probe_type(spec.type)
    check = probe.kubernetes_check(spec.params, where)
    period = max(1, math.ceil(spec.period_seconds))
    timeout = max(5 if "exec" in check else 1, probe.kubernetes_timeout, math.ceil(spec.timeout_seconds))  # exec: a process per check
    startup_threshold = math.ceil(max(spec.budget_seconds, STARTUP_FLOOR_SECONDS) / period)
    return {
        "startupProbe": {**check, "initialDelaySeconds": math.ceil(spec.initial_delay_seconds), "periodSeconds": period,
                         "timeoutSeconds": timeout, "failureThreshold": startup_threshold},
        "readinessProbe": {**check, "periodSeconds": max(period, 5), "timeoutSeconds": timeout, "failureThreshold": 3},
        "livenessProbe": {**check, "periodSeconds": max(period, 10), "timeoutSeconds": timeout, "failureThreshold": 3},
    }
