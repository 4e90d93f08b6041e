"""Run a producer ahead of its consumer in a thread: the stages of a render (read + sketch prep, the model loop,
restore + encode) overlap instead of taking turns, so the accelerator is not left idle while the CPU reads or writes.

`background(iterable, maxsize)` iterates `iterable` in a daemon thread and hands items over through a queue of at
most `maxsize` items (the memory bound). Items come out in order, exactly once; an exception in the producer is
raised in the consumer at the point where that item would have arrived. Closing the consumer side (leaving the
`with` block, `close()`, garbage collection) stops the producer at its next hand-over and waits for it, so a shared
model is never used by a stale producer once `close()` returns.

Thread-local state (torch's grad mode, autocast, the current CUDA device) belongs to the producer's thread: set it
inside the producer (e.g. `with torch.no_grad():` in the generator body), not around the consumer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()
_POLL_S = 0.1  # how often a producer blocked on a full queue checks whether the consumer has gone


class background(Generic[T]):  # noqa: N801 - used like a function, as `map` / `zip`
    def __init__(self, iterable: Iterable[T], maxsize: int = 8, name: str = "lvcd-prefetch"):
        if maxsize < 1:
            raise ValueError(f"background(maxsize={maxsize}): the hand-over queue needs room for at least one item.")
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(iterable,), name=name, daemon=True)
        self._thread.start()

    # producer side ------------------------------------------------------------------------------------------------
    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, iterable: Iterable[T]) -> None:
        it = iter(iterable)
        try:
            for item in it:
                if not self._put((item, None)):
                    return
            self._put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._put((_END, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:  # a generator: run its `finally` / `with` exits in this thread
                close()

    # consumer side ------------------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item, exc = self._queue.get()
        if item is _END:
            self._done = True
            self._thread.join()
            if exc is not None:
                raise exc
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the producer (at its next hand-over) and wait for it to finish."""
        self._done = True
        self._stop.set()
        while self._thread.is_alive():
            try:  # make room so a producer blocked in put() sees the stop flag at once
                self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                pass
        self._thread.join()

    def __enter__(self) -> background[T]:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        if not getattr(self, "_done", True):  # (not set when __init__ refused its arguments)
            self._stop.set()
