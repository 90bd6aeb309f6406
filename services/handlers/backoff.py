"""How long to wait before a failed task's next attempt."""

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: the n-th retry waits about `base * factor**(n-1)`,
    at most `maximum`, scaled by a random factor in [1 - jitter, 1] so that tasks failing
    together do not all come back together."""

    base: float = 1.0
    factor: float = 2.0
    maximum: float = 300.0
    jitter: float = 0.5

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.maximum, self.base * self.factor ** (attempt - 1))
        return ceiling * (1 - self.jitter * random.random())


DEFAULT_BACKOFF = Backoff()
