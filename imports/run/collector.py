"""No cyclic garbage collection while a run's pages stream.

Every page allocates tens of thousands of containers (rows, mapped events, properties)
that live about two pages, long enough to be promoted to the oldest generation, so the
collector kept running full collections, each scanning the whole heap of Django, gRPC and
Arrow: about 75 ms each, a sixth of a run's time (bench/import_runner.py prints it). They
found nothing: a page makes no reference cycles (a 300,000-row run left 23 cyclic
objects), so reference counting frees its memory all the same.

A page read with REST does leave some (30 to 40 objects a page, measured), and a retried
error more, so one full collection runs every PAGES_BETWEEN_COLLECTIONS pages: garbage stays
bounded on a run of any length, for well under 1 % of its time.

The collector is process-wide, so runs streaming in one process (threads) share one
pause: it ends when the last of them does, and restores the collector as it was before
the first.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

PAGES_BETWEEN_COLLECTIONS = 100

_lock = threading.Lock()
_streaming = 0
_was_enabled = False
_pages = 0


@contextmanager
def paused() -> Iterator[None]:
    """Automatic collection off inside the block (an explicit gc.collect() still runs)."""
    global _streaming, _was_enabled
    with _lock:
        if _streaming == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _streaming += 1
    try:
        yield
    finally:
        with _lock:
            _streaming -= 1
            if _streaming == 0 and _was_enabled:
                gc.enable()


def page_written() -> None:
    """Count a page written while paused; every PAGES_BETWEEN_COLLECTIONS, collect."""
    global _pages
    with _lock:
        _pages += 1
        due = _pages % PAGES_BETWEEN_COLLECTIONS == 0
    if due:
        gc.collect()
