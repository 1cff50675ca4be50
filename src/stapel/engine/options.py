"""What an `up` was asked to do (light: the fast path compares it without loading the engine)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class UpOptions:
    services: list[str] | None = None  # --service a,b (with what they depend on)
    skip_backend: bool = False  # --skip-backend: infrastructure only
    skip_migrations: bool = False
    skip_seeds: bool = False
    force_seeds: bool = False  # `stapel seed --force`: run every seed again
    profiles: list[str] | None = None  # --profile a (repeatable) / $STAPEL_PROFILES: nodes without a profile + these

    def to_json(self) -> dict[str, Any]:
        """What the fast path compares: a repeated up with other options is not a no-op."""
        return {"services": sorted(self.services) if self.services is not None else None, "skip_backend": self.skip_backend,
                "skip_migrations": self.skip_migrations, "skip_seeds": self.skip_seeds,
                "profiles": sorted(self.profiles) if self.profiles is not None else None}
