"""Decoding and encoding beside the makeup: a clip's frames read ahead and written behind on background threads.

PyAV decodes and libx264 encodes with Python's lock released, so while one frame is made up the next is already
being decoded and the previous one encoded, and their time mostly hides behind the makeup's (README, Video speed).
Errors raised on either thread come back to the caller, in order, and stopping early (an error, Ctrl-C) stops
both.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

Item = TypeVar("Item")
_END = object()
_POLL_S = 0.1  # how often a blocked thread looks whether the other side has stopped


def read_ahead(items: Iterator[Item], depth: int = 4, busy_ms: Callable[[float], None] | None = None) -> Iterator[Item]:
    """`items` produced on a background thread, up to `depth` ahead. busy_ms(ms) is told how long each item took
    to produce (on that thread)."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            while not stop.is_set():
                start = time.perf_counter()
                item = next(items, _END)
                if busy_ms is not None:
                    busy_ms((time.perf_counter() - start) * 1000.0)
                if not _put(ready, (item, None), stop) or item is _END:
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            _put(ready, (_END, error), stop)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's own clean-up (an open container) runs on the thread that ran it

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        worker.join()


class WriteBehind:
    """`write(item)` hands `item` to `write_one` on a background thread and returns at once (waiting only when
    `depth` items are queued). `finish()` waits until everything is written; `abandon()` drops what is queued.
    An error of `write_one` is raised by the next `write` or by `finish`."""

    def __init__(self, write_one: Callable[[Item], None], depth: int = 4,
                 busy_ms: Callable[[float], None] | None = None) -> None:
        self._write_one = write_one
        self._busy_ms = busy_ms
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._worker = threading.Thread(target=self._consume, name="write-behind", daemon=True)
        self._worker.start()

    def write(self, item: Item) -> None:
        self._raise_if_failed()
        if not _put(self._queue, item, self._stop):
            self._raise_if_failed()

    def finish(self) -> None:
        _put(self._queue, _END, self._stop)
        self._worker.join()
        self._raise_if_failed()

    def abandon(self) -> None:
        self._stop.set()
        self._worker.join()

    def _consume(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if item is _END:
                return
            start = time.perf_counter()
            try:
                self._write_one(item)
            except BaseException as error:  # noqa: BLE001 - raised on the caller's thread
                self._error = error
                self._stop.set()
                return
            if self._busy_ms is not None:
                self._busy_ms((time.perf_counter() - start) * 1000.0)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error


def _put(target: queue.Queue, item, stop: threading.Event) -> bool:
    """Put `item`, waiting for room; False when `stop` is set first."""
    while not stop.is_set():
        try:
            target.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False
