"""Read and map the next page in a thread while the current one is being written.

A run spends about half its time waiting for PostgreSQL (the INSERT and the commit) and
the other half in Python reading and mapping pages. The database waits release the GIL,
so a reader thread that stays one page ahead overlaps the two. The thread touches no
database: it only pulls pages from the source and maps them. At most `depth` mapped
pages wait in the queue, so memory stays bounded by a few pages whatever the table size.

Errors travel in order: pages read before a failure are still handed over (and written)
before the failure is raised in the consuming thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

_DONE = object()
_POLL_SECONDS = 0.1
JOIN_SECONDS = 30.0


@dataclass
class MappedPage:
    offset: int  # row position of the page's first row in the source
    size: int  # rows read, mapped or rejected
    mapped: list[Any]
    rejected: list[Any]
    high: Any = None  # the page's highest cursor value (see imports.run.high_water)


@dataclass
class _Failure:
    error: BaseException


class PagePrefetcher:
    """Iterate MappedPages read from `pages` (lists of rows) starting at row `offset`.

    Use as a context manager: leaving it stops the thread and closes the source, also
    when the consumer stops early (a cancelled run, a lost lease).
    """

    def __init__(
        self,
        pages: Iterable[list[Any]],
        map_page: Callable[[list[Any], int], tuple[list[Any], list[Any], Any]],
        *,
        offset: int,
        depth: int = 1,
    ) -> None:
        self._pages = pages
        self._map_page = map_page
        self._offset = offset
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="page-prefetch", daemon=True)

    def __enter__(self) -> PagePrefetcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._drain()
        self._thread.join(JOIN_SECONDS)
        if self._thread.is_alive():
            # Blocked inside a read; its own timeout ends it, and it writes nothing.
            logger.warning("page reader still busy after %s s; leaving it behind", JOIN_SECONDS)

    def __iter__(self) -> Iterator[MappedPage]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def _produce(self) -> None:
        offset = self._offset
        try:
            for rows in self._pages:
                if self._stop.is_set():
                    return
                if not rows:
                    continue
                mapped, rejected, high = self._map_page(rows, offset)
                if not self._put(MappedPage(offset, len(rows), mapped, rejected, high)):
                    return
                offset += len(rows)
            self._put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, in order
            self._put(_Failure(error))
        finally:
            close = getattr(self._pages, "close", None)
            if close is not None:
                close()  # ends the generator (and its gRPC stream) in the thread that ran it

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return
