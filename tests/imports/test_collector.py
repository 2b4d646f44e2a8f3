"""The collector's pause while pages stream: off inside, restored after, shared by runs
that overlap in one process."""

import gc
import threading

import pytest

from imports.run import collector
from tests.imports.conftest import full_collections


@pytest.fixture(autouse=True)
def collector_on():
    gc.enable()
    yield
    gc.enable()


def test_the_collector_is_off_inside_and_back_on_after():
    with collector.paused():
        assert not gc.isenabled()

    assert gc.isenabled()


def test_it_is_back_on_after_an_error_too():
    with pytest.raises(ValueError), collector.paused():
        raise ValueError("a page failed")

    assert gc.isenabled()


def test_a_collector_that_was_off_before_stays_off():
    gc.disable()

    with collector.paused():
        pass

    assert not gc.isenabled()


def test_overlapping_runs_share_one_pause_that_ends_with_the_last():
    first_inside, first_may_leave, first_left = (threading.Event() for _ in range(3))

    def first_run():
        with collector.paused():
            first_inside.set()
            first_may_leave.wait(10)
        first_left.set()

    thread = threading.Thread(target=first_run)
    thread.start()
    assert first_inside.wait(10)
    with collector.paused():
        first_may_leave.set()
        assert first_left.wait(10)
        assert not gc.isenabled()  # the first run has left; this one still streams
    thread.join(10)

    assert gc.isenabled()


def test_a_long_run_still_collects_once_every_so_many_pages():
    with full_collections() as collections, collector.paused():
        for _ in range(collector.PAGES_BETWEEN_COLLECTIONS * 2):
            collector.page_written()

    assert len(collections) == 2


def test_a_run_shorter_than_the_interval_makes_no_full_collection(monkeypatch):
    monkeypatch.setattr(collector, "_pages", 0)  # a fresh worker process
    with full_collections() as collections, collector.paused():
        for _ in range(collector.PAGES_BETWEEN_COLLECTIONS - 1):
            collector.page_written()
        assert collections == []
        collector.page_written()

    assert len(collections) == 1
