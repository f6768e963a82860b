"""Replay protection for RAM/STS signatures: recently seen nonces, bounded in size and age."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class NonceCache:
    """Recently seen signature nonces, bounded in size and age (replay protection)."""

    max_entries: int = 50_000
    ttl: float = 1800.0
    seen: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def add(self, nonce: str, now: float) -> bool:
        while self.seen:
            oldest, stamp = next(iter(self.seen.items()))
            if now - stamp <= self.ttl and len(self.seen) < self.max_entries:
                break
            del self.seen[oldest]
        if nonce in self.seen:
            return False
        self.seen[nonce] = now
        return True
