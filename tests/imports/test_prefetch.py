"""The page prefetcher: pages in order, errors after the pages read before them, clean exits."""

import sys
import threading

import pytest

from imports.prefetch import MappedPage, PagePrefetcher
from tests.fixtures.waiting import wait_for


def double(rows, offset):
    return [(offset, row * 2) for row in rows], [], None


def source(pages, *, fail_with=None, closed=None):
    try:
        yield from pages
        if fail_with is not None:
            raise fail_with
    finally:
        if closed is not None:
            closed.set()


def test_pages_come_in_order_with_their_offsets_and_empty_pages_are_skipped():
    pages = [[1, 2, 3], [], [4, 5], [6]]

    with PagePrefetcher(source(pages), double, offset=100) as prefetched:
        got = list(prefetched)

    assert got == [
        MappedPage(offset=100, size=3, mapped=[(100, 2), (100, 4), (100, 6)], rejected=[]),
        MappedPage(offset=103, size=2, mapped=[(103, 8), (103, 10)], rejected=[]),
        MappedPage(offset=105, size=1, mapped=[(105, 12)], rejected=[]),
    ]


def test_an_error_is_raised_after_the_pages_read_before_it():
    class Boom(Exception):
        pass

    received = []
    with pytest.raises(Boom):
        with PagePrefetcher(source([[1], [2]], fail_with=Boom()), double, offset=0) as prefetched:
            for page in prefetched:
                received.append(page.offset)

    assert received == [0, 1]


def test_a_mapping_error_travels_to_the_consumer_too():
    def broken(rows, offset):
        raise ValueError("bad mapping")

    with pytest.raises(ValueError, match="bad mapping"):
        with PagePrefetcher(source([[1]]), broken, offset=0) as prefetched:
            list(prefetched)


def test_a_page_counts_the_rows_read_the_rejected_ones_too_and_keeps_its_high():
    def reject_odd(rows, offset):
        return [r for r in rows if r % 2 == 0], [r for r in rows if r % 2], max(rows)

    with PagePrefetcher(source([[1, 2, 3], [4, 5]]), reject_odd, offset=0) as prefetched:
        got = [
            (page.offset, page.size, page.mapped, page.rejected, page.high) for page in prefetched
        ]

    assert got == [(0, 3, [2], [1, 3], 3), (3, 2, [4], [5], 5)]


def test_an_error_that_is_not_an_exception_travels_to_the_consumer_too():
    """A BaseException in the reader (a worker's shutdown, say) must end the consumer's
    loop with it, not leave the consumer waiting for a page that never comes."""

    class Shutdown(BaseException):
        pass

    def shut_down(rows, offset):
        raise Shutdown

    raised = []

    def consume():
        try:
            with PagePrefetcher(source([[1]]), shut_down, offset=0) as prefetched:
                list(prefetched)
        except Shutdown:
            raised.append(True)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    consumer.join(timeout=10)

    assert raised == [True]


def test_leaving_early_stops_the_reader_and_closes_the_source():
    closed = threading.Event()
    endless = source(([i] for i in range(10**9)), closed=closed)

    with PagePrefetcher(endless, double, offset=0) as prefetched:
        for page in prefetched:
            if page.offset == 3:
                break
        reader = prefetched._thread

    assert closed.wait(5), "the source generator was not closed"
    reader.join(5)
    assert not reader.is_alive()


def waiting(thread: threading.Thread) -> bool:
    """Whether `thread` is parked in a wait (a lock, a condition, a queue with no room)."""
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_filename == threading.__file__ and frame.f_code.co_name == "wait":
            return True
        frame = frame.f_back
    return False


def test_the_reader_stays_at_most_one_page_ahead():
    produced = []

    def counting(rows, offset):
        produced.append(offset)
        return rows, [], None

    with PagePrefetcher(source([[i] for i in range(10)]), counting, offset=0) as prefetched:
        iterator = iter(prefetched)
        next(iterator)
        reader = prefetched._thread
        # Until the reader stops for room (or, running away, reaches the end of the source);
        # a full queue, so that a wait it has not yet woken from does not count.
        wait_for(
            lambda: (
                (len(produced) >= 3 and waiting(reader) and prefetched._queue.full())
                or not reader.is_alive()
            ),
            database=False,
        )
        # One page handed over, one waiting in the queue, one mapped and waiting to be put.
        assert produced == [0, 1, 2]
        rest = list(iterator)

    assert len(rest) == 9
    assert produced == list(range(10))


def test_a_reader_left_waiting_for_room_maps_no_further_page():
    """Mapping a page is most of a reader's work: once the consumer has left, the reader
    must stop before mapping another page, not map it and then find no one to take it."""
    mapped = []

    def counting(rows, offset):
        mapped.append(offset)
        return rows, [], None

    with PagePrefetcher(source([[i] for i in range(10)]), counting, offset=0) as prefetched:
        next(iter(prefetched))
        reader = prefetched._thread
        wait_for(
            lambda: len(mapped) >= 3 and waiting(reader) and prefetched._queue.full(),
            database=False,
        )
    reader.join(5)

    # One page handed over, one in the queue, one waiting for room; none mapped after leaving.
    assert mapped == [0, 1, 2]
    assert not reader.is_alive()
