"""Mapping a slow call over a long stream on a few threads, without holding the stream."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_bounded(
    call: Callable[[T], R], items: Iterable[T], workers: int, name: str = "bounded"
) -> Iterator[R]:
    """``call`` over ``items`` on ``workers`` threads; results in the order of ``items``.

    At most ``2 * workers`` items are in flight, so a stream of 100k users is read as it is
    consumed. ``concurrent.futures.Executor.map`` would submit the whole stream first.
    An exception from ``call`` is raised here, in order; what is still in flight is
    cancelled or waited for when the generator is closed.
    """
    window = 2 * workers
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        running: deque[Future[R]] = deque()
        try:
            for item in items:
                running.append(pool.submit(call, item))
                if len(running) >= window:
                    yield running.popleft().result()
            while running:
                yield running.popleft().result()
        finally:
            for future in running:
                future.cancel()
