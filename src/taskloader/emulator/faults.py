"""Seeded fault injection: throttles, 500s, 503s, dropped connections, hangs and latency.

Every API request, in arrival order, draws exactly two numbers from one seeded generator (the
fault and the jitter), so the same seed and the same request sequence replay the same faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from taskloader.emulator.settings import FaultSettings

#: Fault kinds, in the order their probability bands are laid out on [0, 1).
KINDS: tuple[str, ...] = ("throttle", "error_500", "error_503", "drop", "hang")


@dataclass(frozen=True, slots=True)
class Decision:
    fault: str | None
    delay_s: float


NO_FAULT = Decision(None, 0.0)


class FaultInjector:
    def __init__(self, settings: FaultSettings, seed: int | None) -> None:
        self.settings = settings
        self.seed = seed
        self._random = random.Random(seed)
        self._bands: tuple[tuple[float, str], ...] = ()
        self.configure(settings, seed)

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def configure(self, settings: FaultSettings, seed: int | None = None) -> None:
        """Replace the fault settings; a new ``seed`` restarts the random sequence."""
        self.settings = settings
        if seed is not None:
            self.seed = seed
            self._random = random.Random(seed)
        edge = 0.0
        bands = []
        for kind in KINDS:
            p = getattr(settings, kind)
            if p > 0:
                edge += p
                bands.append((edge, kind))
        self._bands = tuple(bands)

    def reseed(self) -> None:
        self._random = random.Random(self.seed)

    def decide(self) -> Decision:
        if not self.settings.enabled:
            return NO_FAULT
        draw = self._random.random()
        jitter = self._random.random()
        delay = (self.settings.latency_ms + jitter * self.settings.jitter_ms) / 1000.0
        for edge, kind in self._bands:
            if draw < edge:
                return Decision(kind, delay)
        return Decision(None, delay)
