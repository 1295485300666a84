"""A work queue with client-go's semantics, for asyncio.

- A key is in the queue at most once (dirty set), and never handed to two workers at once
  (processing set): a key added while it is being processed is queued again when it is done.
  Per-key serialisation comes from here, so reconcilers need no locks.
- `add_after` schedules a key (the earliest schedule wins); `add_rate_limited` backs off per
  key exponentially (5 ms doubling, capped at 10 s: Argo's cap, after #1193 showed how a large
  cap hangs rollouts), and `forget` resets that after a success.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass
class QueueStats:
    adds: int = 0
    retries: int = 0
    wait_seconds: list[float] = field(default_factory=list)
    """Recent time-in-queue samples; drained by the metrics collector."""


class WorkQueue(Generic[K]):
    def __init__(self, name: str, *, base_delay: float = 0.005, max_delay: float = 10.0) -> None:
        self.name = name
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._added_at: dict[K, float] = {}
        self._failures: dict[K, int] = {}
        self._delayed: list[tuple[float, int, K]] = []
        self._delayed_due: dict[K, float] = {}
        self._counter = itertools.count()
        self._wakeup = asyncio.Event()
        self._timer_changed = asyncio.Event()
        self._shutting_down = False
        self.stats = QueueStats()

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def depth(self) -> int:
        return len(self._queue)

    def add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self.stats.adds += 1
        self._dirty.add(key)
        self._added_at[key] = time.monotonic()
        if key in self._processing:
            return  # queued again by done()
        self._queue.append(key)
        self._wakeup.set()

    def add_after(self, key: K, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        due = time.monotonic() + delay
        current = self._delayed_due.get(key)
        if current is not None and current <= due:
            return
        self._delayed_due[key] = due
        heapq.heappush(self._delayed, (due, next(self._counter), key))
        self._timer_changed.set()

    def add_rate_limited(self, key: K) -> None:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.stats.retries += 1
        self.add_after(key, min(self.base_delay * (2**failures), self.max_delay))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> K:
        while not self._queue:
            if self._shutting_down:
                raise asyncio.CancelledError
            self._wakeup.clear()
            await self._wakeup.wait()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        added = self._added_at.pop(key, None)
        if added is not None and len(self.stats.wait_seconds) < 10_000:
            self.stats.wait_seconds.append(time.monotonic() - added)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wakeup.set()

    async def run_timers(self) -> None:
        """Move delayed keys into the queue when they are due; run as a task."""
        while True:
            now = time.monotonic()
            while self._delayed and self._delayed[0][0] <= now:
                due, _, key = heapq.heappop(self._delayed)
                if self._delayed_due.get(key) == due:
                    del self._delayed_due[key]
                    self.add(key)
            timeout = self._delayed[0][0] - now if self._delayed else None
            self._timer_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_changed.wait(), timeout)

    def shutdown(self) -> None:
        self._shutting_down = True
        self._wakeup.set()
