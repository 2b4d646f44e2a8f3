"""A run split into parts (IMPORT_RUN_PARTS): the result table's read streams, each taken
by any worker with its own lease and committed offset; the run ends once, by its last part.
Here the parts are executed one after another in this process; tests/faults has them on
real worker processes, one killed mid-part."""

import datetime as dt
import uuid
from types import SimpleNamespace

import pytest
import time_machine
from django.db.utils import OperationalError
from django.urls import reverse
from django.utils import timezone

from audience.models import Event
from audience.rows import EventRow
from connections import bigquery
from connections.keys import connection_session
from imports import queue, services
from imports.models import Import, ImportRun, RejectedRow, RunPart
from imports.prefetch import MappedPage
from imports.run import database, execute, leases, pages, parts, write
from tests.fixtures.standin_world import PROJECT
from tests.imports.conftest import EVENT_SCHEMA, START, event_rows, make_import, new_table
from tests.imports.test_runner_scratch import table_exists

ROWS = 1000


@pytest.fixture(autouse=True)
def split_runs(settings, google):
    settings.IMPORT_PAGE_SIZE = 64
    settings.IMPORT_RUN_PARTS = 3
    google.stack.grant(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)


def incremental_events(google, bq_connection, alice, rows):
    table = new_table(google.stack, EVENT_SCHEMA, rows)
    return make_import(
        bq_connection,
        alice,
        table=table,
        target="events",
        sync_mode="incremental",
        cursor_column="ts",
        cursor_type="TIMESTAMP",
    )


def start_run(import_obj, user) -> ImportRun:
    run = services.import_run_now(import_obj=import_obj, actor=user)
    assert execute.execute_run(str(run.pk)) == "parts"  # the first part, read here
    return run


def queued_parts(run) -> list[int]:
    return list(
        RunPart.objects.filter(run=run, status=RunPart.Status.QUEUED).values_list("pk", flat=True)
    )


def test_a_split_run_imports_every_row_once_and_ends_once(google, bq_connection, alice):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)

    run.refresh_from_db()
    assert run.status == ImportRun.Status.RUNNING and run.read_path == parts.READ_PATH
    rest = queued_parts(run)
    assert len(rest) == 2
    # The part holding the highest cursor ends first: the run still takes its value.
    assert parts.execute_part(rest[1]) == "part_done"
    assert parts.execute_part(rest[0]) == ImportRun.Status.SUCCEEDED

    run.refresh_from_db()
    import_obj.refresh_from_db()
    assert run.status == ImportRun.Status.SUCCEEDED
    assert (run.rows_read, run.rows_written, run.committed_offset) == (ROWS, ROWS, ROWS)
    assert Event.objects.count() == ROWS
    assert sorted(Event.objects.values_list("properties__amount", flat=True)) == list(range(ROWS))
    counts = list(RunPart.objects.filter(run=run).values_list("status", "rows_read"))
    assert [status for status, _ in counts] == [RunPart.Status.DONE] * 3
    assert sum(read for _, read in counts) == ROWS and all(read > 0 for _, read in counts)
    highest = (START + dt.timedelta(seconds=ROWS - 1)).isoformat()
    assert import_obj.watermark == run.watermark_to == highest
    # A part sent again after the end (a duplicate message) takes nothing.
    assert parts.execute_part(rest[0]) == "skipped"


def test_a_run_split_before_parts_kept_their_highest_cursor_keeps_its_own(
    google, bq_connection, alice
):
    """Upgraded mid-run: the run holds the bound an older version took with a MAX query,
    and the pages its parts wrote before hold none. The run ends with that bound."""
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    first, last = queued_parts(run)
    assert parts.execute_part(last) == "part_done"
    highest = (START + dt.timedelta(seconds=ROWS - 1)).isoformat()
    RunPart.objects.filter(pk=last).update(watermark_to="")
    ImportRun.objects.filter(pk=run.pk).update(watermark_to=highest)

    assert parts.execute_part(first) == ImportRun.Status.SUCCEEDED

    import_obj.refresh_from_db()
    assert import_obj.watermark == highest


def test_a_part_taken_over_resumes_from_its_committed_offset(google, bq_connection, alice):
    """A part's worker that stopped after some pages (its lease ran out): another worker
    claims the part and reads it from the part's committed row; the stale owner writes
    nothing more."""
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    part = RunPart.objects.get(pk=queued_parts(run)[0])
    stale = leases.part_claim(part_id=part.pk, owner="stale")
    assert stale is not None
    with time_machine.travel(stale.lease_until, tick=False):  # its lease's last instant
        assert leases.part_claim(part_id=part.pk, owner="early") is None
    # The stale worker commits two pages, then its lease runs out.
    with pytest.raises(_Stop):
        _read_two_pages(stale)
    RunPart.objects.filter(pk=part.pk).update(lease_until="2000-01-01T00:00:00Z")
    assert RunPart.objects.get(pk=part.pk).committed_offset == 128

    for part_id in [part.pk, *queued_parts(run)]:
        parts.execute_part(part_id)

    run.refresh_from_db()
    assert run.status == ImportRun.Status.SUCCEEDED
    assert (run.rows_read, run.rows_written) == (ROWS, ROWS)
    assert Event.objects.count() == ROWS
    assert RunPart.objects.get(pk=part.pk).attempts == 2
    # The stale worker wakes up with a page in hand: the part's lease fences it out.
    with pytest.raises(leases.LeaseLost):
        write.write_page(run, "stale", import_obj, MappedPage(128, 1, [], []), part=stale)
    run.refresh_from_db()
    assert (run.rows_read, run.committed_offset) == (ROWS, ROWS)


def test_a_stale_part_worker_writes_nothing_once_another_worker_took_the_part(
    google, bq_connection, alice
):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    part_id = queued_parts(run)[0]
    stale = leases.part_claim(part_id=part_id, owner="stale")
    assert stale is not None
    # The stale worker stalls past its lease; another one claims the part meanwhile.
    RunPart.objects.filter(pk=part_id).update(lease_until="2000-01-01T00:00:00Z")
    assert leases.part_claim(part_id=part_id, owner="fresh") is not None
    run.refresh_from_db()
    before = (run.rows_read, run.committed_offset)

    # It wakes up with a page in hand: the part's lease is not its own any more.
    with pytest.raises(leases.LeaseLost):
        write.write_page(run, "stale", import_obj, MappedPage(0, 64, [], []), part=stale)

    part = RunPart.objects.get(pk=part_id)
    assert (part.lease_owner, part.committed_offset, part.rows_read) == ("fresh", 0, 0)
    run.refresh_from_db()
    assert (run.rows_read, run.committed_offset) == before

    # Nor does it undo the split when its stream is gone: the part is the fresh worker's.
    assert parts._read_as_one_with_rest(run, stale, "stale", "stream gone") == "lease_lost"
    run.refresh_from_db()
    assert (run.status, run.read_path) == (ImportRun.Status.RUNNING, parts.READ_PATH)
    assert RunPart.objects.filter(run=run).count() == 3


def failed_with_a_part_claimed(google, bq_connection, alice):
    """A split run failed by one part while another worker ("late") holds another part."""
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    late = leases.part_claim(part_id=queued_parts(run)[0], owner="late")
    assert late is not None
    assert parts._end(run, ImportRun.Status.FAILED, "Broken.") == ImportRun.Status.FAILED
    return import_obj, run, late


def test_a_part_writes_nothing_once_another_part_ended_the_run(google, bq_connection, alice):
    import_obj, run, late = failed_with_a_part_claimed(google, bq_connection, alice)
    ended = ImportRun.objects.get(pk=run.pk)
    rows = [
        EventRow(f"u{i}", "Signed up", START, {}, uuid.uuid5(uuid.NAMESPACE_OID, str(i)))
        for i in range(64)
    ]
    page = MappedPage(0, 64, rows, [])
    stored = Event.objects.filter(workspace=import_obj.workspace).count()

    # The part read its page before the run ended: the run's numbers are final, so the page
    # must not land uncounted in the workspace's events.
    with pytest.raises(leases.RunEnded):
        write.write_page(run, "late", import_obj, page, part=late)

    assert Event.objects.filter(workspace=import_obj.workspace).count() == stored
    assert not Event.objects.filter(name="Signed up").exists()
    assert RunPart.objects.get(pk=late.pk).committed_offset == 0
    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert (run.rows_read, run.committed_offset, run.lease_until) == (
        ended.rows_read,
        ended.committed_offset,
        ended.lease_until,
    )


def test_a_part_reading_when_another_part_failed_the_run_stops_at_its_first_page(
    google, bq_connection, alice, caplog
):
    import_obj, run, late = failed_with_a_part_claimed(google, bq_connection, alice)
    stored = Event.objects.filter(workspace=import_obj.workspace).count()

    with caplog.at_level("INFO", logger="imports.run.parts"):
        outcome = parts._execute_claimed_part(late.run, late, "late")

    assert outcome == "run_ended"
    assert f"run {run.pk} part {late.number}: the run has ended" in caplog.text
    assert Event.objects.filter(workspace=import_obj.workspace).count() == stored
    assert RunPart.objects.get(pk=late.pk).rows_read == 0
    run.refresh_from_db()
    assert (run.status, run.error_message) == (ImportRun.Status.FAILED, "Broken.")


class _Stop(Exception):
    pass


def _read_two_pages(part):
    """Read the part as a worker that dies after its second page."""
    original = write.write_page
    written = []

    def two_pages(*args, **kwargs):
        if len(written) == 2:
            raise _Stop
        written.append(original(*args, **kwargs))
        return written[-1]

    run = part.run
    write.write_page = two_pages
    try:
        with connection_session(run.import_obj.connection) as session:
            reader = bigquery.ImportReader(session)
            with bigquery.StorageReader(session) as storage:
                pages.read_pages(run, "stale", reader, storage, part=part)
    finally:
        write.write_page = original


def test_rejected_rows_of_parts_keep_distinct_numbers(google, bq_connection, alice, alice_client):
    rows = event_rows(0, 300)
    for row in rows[::50]:
        row["user_id"] = None  # no identity: rejected
    import_obj = incremental_events(google, bq_connection, alice, rows)
    run = start_run(import_obj, alice)
    for part_id in queued_parts(run):
        parts.execute_part(part_id)

    run.refresh_from_db()
    assert run.rows_rejected == 6 and run.rows_read == 300
    numbers = list(RejectedRow.objects.filter(run=run).values_list("row_number", flat=True))
    assert len(set(numbers)) == 6
    assert {n // pages.PART_ROW_SPAN for n in numbers} == {0, 1, 2}
    # The run page says which part read each row, and which row of its stream it was.
    page = alice_client.get(reverse("imports:run", kwargs={"ws": "acme", "run_pk": run.pk}))
    shown = {(r.part, r.row_in_part) for r in RejectedRow.objects.filter(run=run)}
    assert {part for part, _ in shown} == {1, 2, 3}
    for part, row in shown:
        assert f"Part {part}, row {row:,}</td>" in page.content.decode()
    # ... and what each part read, its counters adding up to the run's.
    html = page.content.decode()
    for part in RunPart.objects.filter(run=run):
        assert (
            f'<tr data-part="{part.number + 1}"><td>Part {part.number + 1}</td><td>Done</td>'
            f'<td class="num">{part.rows_read}</td><td class="num">{part.rows_written}</td>'
            f'<td class="num">{part.rows_unchanged}</td><td class="num">{part.rows_rejected}</td>'
        ) in html
    counted = RunPart.objects.filter(run=run).values_list("rows_read", "rows_rejected")
    assert [sum(column) for column in zip(*counted, strict=True)] == [300, 6]
    # So does the download.
    url = reverse("imports:rejected_csv", kwargs={"ws": "acme", "run_pk": run.pk})
    lines = b"".join(alice_client.get(url).streaming_content).decode().splitlines()
    assert lines[0].startswith("part,row_number,reason,")
    assert {tuple(int(n) for n in line.split(",")[:2]) for line in lines[1:]} == shown


def test_stop_ends_a_split_run_and_every_part(google, bq_connection, alice):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    ImportRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    asked = len(google.stack.gate.requests)

    statuses = [parts.execute_part(part_id) for part_id in queued_parts(run)]

    # The part stopped before reading anything: it did not even look at the result table.
    assert "tables.get" not in [r.operation for r in google.stack.gate.requests[asked:]]

    run.refresh_from_db()
    import_obj.refresh_from_db()
    assert run.status == ImportRun.Status.CANCELLED
    assert statuses == [ImportRun.Status.CANCELLED, "skipped"]
    assert import_obj.watermark == ""
    assert Event.objects.count() < ROWS


def test_one_part_reads_as_before(google, bq_connection, alice, settings):
    settings.IMPORT_RUN_PARTS = 1
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, 300))
    run = services.import_run_now(import_obj=import_obj, actor=alice)
    assert execute.execute_run(str(run.pk)) == ImportRun.Status.SUCCEEDED
    run.refresh_from_db()
    assert run.read_path == "storage" and run.read_stream
    assert not RunPart.objects.filter(run=run).exists()
    assert Event.objects.count() == 300
    sessions = [c for c in google.stack.storage_gate.requests if c.operation == "CreateReadSession"]
    assert len(sessions) == 1  # the run's own: none opened to split it


def test_a_result_bigquery_gives_one_stream_reads_as_one(google, bq_connection, alice):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, 1))
    run = services.import_run_now(import_obj=import_obj, actor=alice)

    assert execute.execute_run(str(run.pk)) == ImportRun.Status.SUCCEEDED
    run.refresh_from_db()
    assert run.read_path == "storage" and run.read_stream
    assert not RunPart.objects.filter(run=run).exists()
    assert Event.objects.count() == 1


def test_the_reaper_resends_a_part_whose_lease_ran_out(google, bq_connection, alice, clean_broker):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    [lost, waiting] = queued_parts(run)
    assert leases.part_claim(part_id=lost, owner="dead") is not None
    assert services.runs_resend_lost() == 0  # the dead worker's lease is still alive

    RunPart.objects.filter(pk=lost).update(lease_until=timezone.now() - dt.timedelta(seconds=1))

    assert services.runs_resend_lost() == 1  # that part, not the run nor the queued part
    assert parts.execute_part(lost) == "part_done"
    assert parts.execute_part(waiting) == ImportRun.Status.SUCCEEDED
    assert Event.objects.count() == ROWS


def test_a_split_run_sent_again_sends_only_its_parts_not_done(
    google, bq_connection, alice, monkeypatch
):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    [done, waiting] = queued_parts(run)
    assert parts.execute_part(done) == "part_done"
    sent = []
    monkeypatch.setattr(queue, "enqueue_part", sent.append)
    # The worker that split the run is gone; the reaper sends the run again.
    ImportRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))

    assert execute.execute_run(str(run.pk)) == "parts_sent"

    assert sent == [waiting]


def test_the_reaper_leaves_a_dead_part_of_an_ended_run_alone(
    google, bq_connection, alice, clean_broker
):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    [dead, waiting] = queued_parts(run)
    assert leases.part_claim(part_id=dead, owner="dead") is not None
    RunPart.objects.filter(pk=dead).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    services.import_stop(import_obj=import_obj, actor=alice)
    assert parts.execute_part(waiting) == ImportRun.Status.CANCELLED

    # The dead worker's part stays running with its lease run out, but its run has ended.
    assert RunPart.objects.get(pk=dead).status == RunPart.Status.RUNNING
    assert services.runs_resend_lost() == 0


def test_a_part_whose_stream_is_gone_turns_the_run_into_one_rest_read(
    google, bq_connection, alice, clean_broker, caplog
):
    """A part resumed after its read session expired: the split is undone, every other
    part's worker is fenced out, and the run reads the whole table again with REST, from
    row 0, writing each event once."""
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)  # part 0 is read
    [expired, other] = queued_parts(run)
    busy = leases.part_claim(part_id=other, owner="busy")  # another worker reads this one
    assert busy is not None
    stream = RunPart.objects.get(pk=expired).read_stream
    google.stack.storage_gate.inject("expired", match=stream)  # FAILED_PRECONDITION

    assert parts.execute_part(expired) == "rest"

    run.refresh_from_db()
    assert (run.status, run.read_path, run.read_stream) == (ImportRun.Status.RUNNING, "rest", "")
    assert (run.committed_offset, run.rows_read) == (0, 0)
    assert run.lease_until <= timezone.now()  # claimable at once
    assert not RunPart.objects.filter(run=run).exists()
    assert "again from row 0 with REST paging" in caplog.text
    # The other part's worker, with a page in hand, writes nothing.
    with pytest.raises(leases.LeaseLost):
        write.write_page(run, "busy", import_obj, MappedPage(64, 1, [], []), part=busy)

    assert execute.execute_run(str(run.pk)) == ImportRun.Status.SUCCEEDED  # the message sent

    run.refresh_from_db()
    import_obj.refresh_from_db()
    assert (run.rows_read, run.committed_offset, run.rows_rejected) == (ROWS, ROWS, 0)
    assert Event.objects.count() == ROWS  # part 0's rows were read twice, stored once
    assert run.rows_written == ROWS  # each event counted once, by the pass that wrote it
    highest = (START + dt.timedelta(seconds=ROWS - 1)).isoformat()
    assert import_obj.watermark == run.watermark_to == highest
    assert parts.execute_part(other) == "skipped"  # its message, arriving late


def read_sessions(google) -> list:
    return [c for c in google.stack.storage_gate.requests if c.operation == "CreateReadSession"]


def test_with_the_storage_read_api_disabled_a_run_is_not_split(
    google, bq_connection, alice, settings
):
    settings.BIGQUERY_STORAGE_ENABLED = False
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, 300))
    run = services.import_run_now(import_obj=import_obj, actor=alice)

    assert execute.execute_run(str(run.pk)) == ImportRun.Status.SUCCEEDED

    run.refresh_from_db()
    assert (run.read_path, run.read_stream) == ("rest", "")
    assert not RunPart.objects.filter(run=run).exists()
    assert Event.objects.count() == 300
    assert read_sessions(google) == []


def test_an_empty_result_is_not_split(google, bq_connection, alice):
    import_obj = incremental_events(google, bq_connection, alice, [])
    run = services.import_run_now(import_obj=import_obj, actor=alice)

    assert execute.execute_run(str(run.pk)) == ImportRun.Status.SUCCEEDED

    run.refresh_from_db()
    assert (run.rows_expected, run.rows_read, run.read_path) == (0, 0, "rest")
    assert not RunPart.objects.filter(run=run).exists()
    assert read_sessions(google) == []


def test_a_split_refused_by_google_reads_the_run_as_one_with_rest(
    google, bq_connection, alice, caplog
):
    # Without BigQuery Read Session User no read session opens, split or not.
    google.stack.revoke(google.key.email, "roles/bigquery.readSessionUser", project=PROJECT)
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, 300))
    run = services.import_run_now(import_obj=import_obj, actor=alice)

    with caplog.at_level("INFO", logger="imports.run"):
        assert execute.execute_run(str(run.pk)) == ImportRun.Status.SUCCEEDED

    run.refresh_from_db()
    assert (run.read_path, run.rows_read) == ("rest", 300)
    assert not RunPart.objects.filter(run=run).exists()
    assert Event.objects.count() == 300
    assert f"run {run.pk}: no split read session" in caplog.text
    assert [c.code for c in read_sessions(google)] == ["PERMISSION_DENIED"] * 2


def test_a_split_run_deletes_its_result_table_once_its_last_part_ends(google, bq_connection, alice):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    run.refresh_from_db()
    first, last = queued_parts(run)

    assert parts.execute_part(first) == "part_done"
    assert table_exists(google.stack, run.result_table)  # the last part still reads it

    assert parts.execute_part(last) == ImportRun.Status.SUCCEEDED
    assert not table_exists(google.stack, run.result_table)


def test_a_part_whose_stream_is_gone_sends_the_run_again(google, bq_connection, alice, monkeypatch):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    expired = queued_parts(run)[0]
    google.stack.storage_gate.inject("expired", match=RunPart.objects.get(pk=expired).read_stream)
    sent = []
    monkeypatch.setattr(queue, "enqueue_run", sent.append)

    assert parts.execute_part(expired) == "rest"

    assert sent == [str(run.pk)]


def test_split_runs_of_two_imports_each_end_with_their_own_parts(
    google, bq_connection, alice, monkeypatch
):
    later = incremental_events(google, bq_connection, alice, event_rows(0, ROWS, day=1))
    earlier = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run_a = start_run(later, alice)
    run_b = start_run(earlier, alice)
    parts_a, parts_b = queued_parts(run_a), queued_parts(run_b)
    # The run of `earlier` is sent again: it sends its own parts only.
    sent = []
    monkeypatch.setattr(queue, "enqueue_part", sent.append)
    ImportRun.objects.filter(pk=run_b.pk).update(lease_until=timezone.now())
    assert execute.execute_run(str(run_b.pk)) == "parts_sent"
    assert sent == parts_b

    # The other import's parts still waiting do not hold this run back.
    assert [parts.execute_part(pk) for pk in parts_a] == ["part_done", ImportRun.Status.SUCCEEDED]
    # Nor do its parts' later cursor values move the other import's watermark.
    assert [parts.execute_part(pk) for pk in parts_b] == ["part_done", ImportRun.Status.SUCCEEDED]

    later.refresh_from_db()
    earlier.refresh_from_db()
    assert later.watermark == (START + dt.timedelta(days=1, seconds=ROWS - 1)).isoformat()
    assert earlier.watermark == (START + dt.timedelta(seconds=ROWS - 1)).isoformat()


def test_a_part_whose_mapping_no_longer_fits_fails_the_run_with_the_reason(
    google, bq_connection, alice
):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    first, last = queued_parts(run)
    # Edited since the split: the result table has no such column.
    Import.objects.filter(pk=import_obj.pk).update(identity_column="gone")

    assert parts.execute_part(first) == ImportRun.Status.FAILED
    assert parts.execute_part(last) == "skipped"  # the run has ended

    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert run.error_message == (
        "The import's mapping cannot work: "
        "The source has no column gone (the identity column) any more."
    )


def test_a_part_fails_the_run_even_after_the_run_was_sent_again(
    google, bq_connection, alice, monkeypatch
):
    """The run's lease ran out while a worker read one of its parts, and the reaper sent the
    run again (another worker owns the run's lease now): the part still ends the run."""
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    Import.objects.filter(pk=import_obj.pk).update(identity_column="gone")  # to fail the part
    part = leases.part_claim(part_id=queued_parts(run)[0], owner="reading")
    assert part is not None
    monkeypatch.setattr(queue, "enqueue_part", lambda part_id: True)
    ImportRun.objects.filter(pk=run.pk).update(lease_until=timezone.now())
    assert execute.execute_run(str(run.pk)) == "parts_sent"

    assert parts._execute_claimed_part(part.run, part, "reading") == ImportRun.Status.FAILED

    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert run.error_message.startswith("The import's mapping cannot work")


def test_a_google_error_in_a_part_fails_the_run_with_the_cause_and_the_fix(
    google, bq_connection, alice
):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    first, last = queued_parts(run)
    google.stack.gate.inject("billing_not_enabled", times=None, match="tables.get")

    assert parts.execute_part(first) == ImportRun.Status.FAILED

    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert f"Billing is not enabled for project {PROJECT}." in run.error_message
    assert "Link a billing account" in run.error_message


def test_an_unexpected_error_in_a_part_fails_the_run_with_a_reference_found_in_the_log(
    google, bq_connection, alice, monkeypatch, caplog
):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    part = RunPart.objects.get(pk=queued_parts(run)[0])

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not a Google error")

    monkeypatch.setattr(pages, "read_pages", broken)

    assert parts.execute_part(part.pk) == ImportRun.Status.FAILED

    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert run.error_message.startswith("The import failed unexpectedly. Reference: ")
    reference = run.error_message.split("Reference: ")[1].split(" ")[0]
    assert f"run {run.pk} part {part.number} failed unexpectedly (reference {reference})" in (
        caplog.text
    )


def test_a_run_ended_by_one_part_keeps_its_end_when_others_end_too(google, bq_connection, alice):
    _, run, late = failed_with_a_part_claimed(google, bq_connection, alice)

    # A Stop seen by another part afterwards: the run stays failed, and says so.
    assert parts._end(run, ImportRun.Status.CANCELLED, "Stopped.") == ImportRun.Status.FAILED
    # Nor does a part whose stream is gone then undo the split of the ended run.
    assert parts._read_as_one_with_rest(late.run, late, "late", "stream gone") == "lease_lost"

    run.refresh_from_db()
    assert (run.status, run.error_message) == (ImportRun.Status.FAILED, "Broken.")
    assert run.read_path == parts.READ_PATH
    assert RunPart.objects.filter(run=run).count() == 3


# Transactional: the part's worker closes its broken database connection before each retry.
@pytest.mark.django_db(transaction=True)
def test_a_part_whose_database_keeps_refusing_fails_the_run_after_the_retries(
    google, bq_connection, alice, monkeypatch
):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    refusals = []

    def refused(*args, **kwargs):
        refusals.append(1)
        if len(refusals) > database.RETRIES + 1:
            raise RuntimeError("retried past the limit")
        raise OperationalError("the database refused")

    monkeypatch.setattr(pages, "read_pages", refused)
    pauses = []
    monkeypatch.setattr(database, "time", SimpleNamespace(sleep=pauses.append))

    assert parts.execute_part(queued_parts(run)[0]) == ImportRun.Status.FAILED

    assert len(refusals) == database.RETRIES + 1
    assert pauses == [1, 2, 4, 8, 16]
    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert run.error_message.startswith("The database kept refusing the import's writes.")


def test_a_stale_part_worker_cannot_mark_the_part_done(google, bq_connection, alice):
    """The stale worker reached the end of its stream after another worker took the part
    over: the part is the fresh worker's to end, and the run waits for it."""
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    first, last = queued_parts(run)
    assert parts.execute_part(first) == "part_done"
    stale = leases.part_claim(part_id=last, owner="stale")
    assert stale is not None
    RunPart.objects.filter(pk=last).update(lease_until="2000-01-01T00:00:00Z")
    assert leases.part_claim(part_id=last, owner="fresh") is not None

    with pytest.raises(leases.LeaseLost):
        parts._part_done(stale.run, stale, "stale")

    part = RunPart.objects.get(pk=last)
    assert (part.status, part.lease_owner) == (RunPart.Status.RUNNING, "fresh")
    run.refresh_from_db()
    assert run.status == ImportRun.Status.RUNNING


def test_the_last_part_to_finish_after_another_part_failed_the_run_leaves_it_failed(
    google, bq_connection, alice
):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    first, last = queued_parts(run)
    assert parts.execute_part(first) == "part_done"
    late = leases.part_claim(part_id=last, owner="late")
    assert late is not None
    assert parts._end(run, ImportRun.Status.FAILED, "Broken.") == ImportRun.Status.FAILED
    failed = ImportRun.objects.get(pk=run.pk)

    # It read its last page before the run failed: it is done, and that is all.
    assert parts._part_done(late.run, late, "late") == "part_done"

    assert RunPart.objects.get(pk=last).status == RunPart.Status.DONE
    run.refresh_from_db()
    import_obj.refresh_from_db()
    assert (run.status, run.error_message) == (ImportRun.Status.FAILED, "Broken.")
    assert run.watermark_to == failed.watermark_to
    assert import_obj.watermark == ""


def test_a_run_waits_for_a_part_another_worker_is_still_reading(google, bq_connection, alice):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    first, last = queued_parts(run)
    busy = leases.part_claim(part_id=last, owner="busy")
    assert busy is not None

    assert parts.execute_part(first) == "part_done"
    assert ImportRun.objects.get(pk=run.pk).status == ImportRun.Status.RUNNING

    assert parts._execute_claimed_part(busy.run, busy, "busy") == ImportRun.Status.SUCCEEDED
    assert Event.objects.count() == ROWS


def test_a_duplicate_message_for_a_run_still_being_read_leaves_its_result_table(
    google, bq_connection, alice
):
    import_obj = incremental_events(google, bq_connection, alice, event_rows(0, ROWS))
    run = start_run(import_obj, alice)
    run.refresh_from_db()

    assert execute.execute_run(str(run.pk)) == "skipped"  # its lease is alive

    assert table_exists(google.stack, run.result_table)  # its parts still read it
