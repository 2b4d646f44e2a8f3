"""Run health through the real runner against the stand-in: every row read is written,
unchanged or rejected; a run with rejections says so, and one above its import's rejection
threshold fails without moving the watermark, so the next run reads the same rows."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from audience.models import Profile
from audience.rows import ProfileRow
from imports import services
from imports.mapping import Rejection
from imports.models import ImportRun, RejectedRow
from imports.prefetch import MappedPage
from imports.run import execute, leases, read_path, write
from imports.run.verdict import verdict
from tests.fixtures.standin_world import DATASET, PROJECT
from tests.imports.conftest import START, USER_SCHEMA, make_import, new_table, user_rows
from tests.imports.test_pages import add_import, add_run
from tests.imports.test_runner import queued_run

LONG_ID = "x" * 1100  # identities are at most 1,024 characters


@pytest.fixture(autouse=True)
def small_pages(settings):
    settings.IMPORT_PAGE_SIZE = 40
    settings.BIGQUERY_STORAGE_ENABLED = False


def run_once(import_obj, user):
    run = services.import_run_now(import_obj=import_obj, actor=user)
    status = execute.execute_run(str(run.pk))
    run.refresh_from_db()
    import_obj.refresh_from_db()
    assert status == run.status
    return run


def counts(run) -> tuple[int, int, int, int]:
    return run.rows_read, run.rows_written, run.rows_unchanged, run.rows_rejected


def with_missing_identities(rows: list[dict], every: int) -> list[dict]:
    for number, row in enumerate(rows):
        if number % every == 0:
            row["user_id"] = None
    return rows


def test_read_is_written_plus_unchanged_plus_rejected_on_a_first_run_and_a_re_run(
    google, bq_connection, alice
):
    table = new_table(google.stack, USER_SCHEMA, with_missing_identities(user_rows(0, 100), 10))
    import_obj = make_import(bq_connection, alice, table=table)

    first = run_once(import_obj, alice)
    again = run_once(import_obj, alice)

    assert counts(first) == (100, 90, 0, 10)
    assert counts(again) == (100, 0, 90, 10)  # nothing new: 90 unchanged, not 0 of anything
    assert Profile.objects.count() == 90
    assert first.status == again.status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS
    assert (again.health_percent, again.health_level) == (90.0, "degraded")
    assert again.error_message == ""


def test_the_rest_replay_after_a_stream_pass_counts_and_keeps_one_pass(connection_a, alice):
    import_obj = make_import(connection_a, alice, table="users")
    run = queued_run(import_obj)
    assert leases.run_claim(run_id=str(run.pk), owner="w") is not None

    def page(*identities: str, rejected_at: int = 0) -> MappedPage:
        rows = [ProfileRow(i, {"plan": "pro"}, timezone.now()) for i in identities]
        rejected = [Rejection(rejected_at, "Missing identity", {})] if rejected_at else []
        return MappedPage(offset=0, size=len(rows) + len(rejected), mapped=rows, rejected=rejected)

    write.write_page(run, "w", import_obj, page("a", "b", "c", rejected_at=4))  # the stream's
    read_path.restart_with_rest(run, "w", "the read stream cannot be read")
    # REST orders the rows differently: the rejected row is its first, d is new, and a was
    # written by the stream's pass.
    write.write_page(run, "w", import_obj, page("d", "a", rejected_at=1))
    run.refresh_from_db()
    assert counts(run) == (3, 4, 0, 1)  # not -2 unchanged on the live run page

    write.write_page(run, "w", import_obj, page("b", "c", "e"))
    run.refresh_from_db()
    assert counts(run) == (6, 5, 0, 1)
    # The rejected row once, as the REST pass numbered it.
    assert list(RejectedRow.objects.filter(run=run).values_list("row_number", flat=True)) == [1]


def test_a_run_without_rejections_succeeds_with_full_health(google, bq_connection, alice):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 50))
    import_obj = make_import(bq_connection, alice, table=table)

    run = run_once(import_obj, alice)

    assert run.status == ImportRun.Status.SUCCEEDED
    assert run.started_at <= run.finished_at  # the run page shows when it ended
    assert counts(run) == (50, 50, 0, 0)
    assert (run.health_text, run.health_level) == ("100 %", "healthy")


def test_a_run_above_the_threshold_fails_keeps_the_watermark_and_the_next_reads_the_same_rows(
    google, bq_connection, alice
):
    table = new_table(google.stack, USER_SCHEMA, user_rows(0, 20))
    import_obj = make_import(
        bq_connection, alice, table=table,
        sync_mode="incremental", cursor_column="updated_at", cursor_type="TIMESTAMP",
    )  # fmt: skip
    good = run_once(import_obj, alice)
    watermark = import_obj.watermark
    assert good.status == ImportRun.Status.SUCCEEDED and watermark
    # New rows arrive with the identity column empty in 30 of 40: 75 % are rejected.
    late = START.replace(day=2)
    arriving = user_rows(100, 40, updated_at=late)
    for row in arriving[:30]:
        row["user_id"] = None
    google.stack.insert_rows(PROJECT, DATASET, table, arriving)

    failed = run_once(import_obj, alice)

    assert failed.status == ImportRun.Status.FAILED
    assert failed.started_at <= failed.finished_at
    assert counts(failed) == (41, 10, 1, 30)  # the boundary row is read again, unchanged
    assert failed.error_message.startswith(
        "Rejected 30 of 41 rows (73.1 %), above this import's 50 % threshold (most rejected "
        "rows: Missing identity in column user_id). Check the identity column and the "
        "mapping; Duplicate the import to change them. The watermark did not move"
    )
    assert import_obj.watermark == watermark
    assert import_obj.last_error == failed.error_message

    services.import_update(
        import_obj=import_obj, actor=alice, definition={"rejection_threshold": 80}
    )
    import_obj.refresh_from_db()
    assert import_obj.watermark == watermark  # the threshold is not a source: nothing reset
    retried = run_once(import_obj, alice)

    assert retried.watermark_from == watermark  # the same window again
    assert counts(retried) == (41, 0, 11, 30)
    assert retried.status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS
    assert import_obj.watermark == retried.watermark_to > watermark
    assert import_obj.last_error == ""


def test_every_row_rejected_fails_a_full_import_with_the_reason_in_words(
    google, bq_connection, alice
):
    rows = user_rows(0, 10)
    for row in rows:
        row["user_id"] = LONG_ID
    import_obj = make_import(bq_connection, alice, table=new_table(google.stack, USER_SCHEMA, rows))

    run = run_once(import_obj, alice)

    assert run.status == ImportRun.Status.FAILED
    assert run.error_message == (
        "Rejected 10 of 10 rows (100 %), above this import's 50 % threshold (most rejected "
        "rows: Identity in column user_id is longer than 1,024 characters). Check the identity "
        "column and the mapping; Duplicate the import to change them."
    )
    assert (run.health_text, run.health_level) == ("0 %", "unhealthy")


def test_a_failed_run_names_the_reason_most_rejected_rows_share(google, bq_connection, alice):
    rows = user_rows(0, 10)
    for row in rows[:3]:
        row["user_id"] = None
    rows[3]["user_id"] = LONG_ID
    table = new_table(google.stack, USER_SCHEMA, rows)
    import_obj = make_import(bq_connection, alice, table=table, rejection_threshold=10)

    run = run_once(import_obj, alice)

    assert run.status == ImportRun.Status.FAILED
    assert run.error_message == (
        "Rejected 4 of 10 rows (40 %), above this import's 10 % threshold (most rejected "
        "rows: Missing identity in column user_id). Check the identity column and the "
        "mapping; Duplicate the import to change them."
    )


def test_a_threshold_of_zero_fails_on_one_rejected_row_and_100_never(google, bq_connection, alice):
    rows = with_missing_identities(user_rows(0, 30), 30)  # 1 of 30
    table = new_table(google.stack, USER_SCHEMA, rows)
    strict = make_import(bq_connection, alice, table=table, rejection_threshold=0)
    lenient = make_import(bq_connection, alice, table=table, rejection_threshold=100, name="L")

    assert run_once(strict, alice).status == ImportRun.Status.FAILED
    assert run_once(lenient, alice).status == ImportRun.Status.SUCCEEDED_WITH_REJECTIONS


def test_the_run_page_filters_rejected_rows_by_reason_with_counts(
    google, bq_connection, alice, alice_client
):
    rows = user_rows(0, 30)
    for number, row in enumerate(rows):
        if number % 10 == 0:
            row["user_id"] = None  # 3 missing
        elif number % 10 == 5:
            row["user_id"] = LONG_ID  # 3 too long
    rows[7]["user_id"] = LONG_ID  # 4 too long
    import_obj = make_import(bq_connection, alice, table=new_table(google.stack, USER_SCHEMA, rows))
    run = run_once(import_obj, alice)
    url = reverse("imports:run", kwargs={"ws": "acme", "run_pk": run.pk})
    too_long = "Identity in column user_id is longer than 1,024 characters"
    missing = "Missing identity in column user_id"

    page = alice_client.get(url).content.decode()
    only_missing = alice_client.get(url, {"reason": missing}).content.decode()
    unknown = alice_client.get(url, {"reason": "no such reason"}).content.decode()
    csv_rows = list(
        csv.reader(
            io.StringIO(
                b"".join(
                    alice_client.get(
                        reverse("imports:rejected_csv", kwargs={"ws": "acme", "run_pk": run.pk}),
                        {"reason": missing},
                    ).streaming_content
                ).decode()
            )
        )
    )

    assert f">{too_long} (4 kept rows)</option>" in page
    assert f">{missing} (3 kept rows)</option>" in page
    assert page.index(too_long + " (4") < page.index(missing + " (3")  # most first
    assert page.count('<tr><td class="num">') == 7
    assert only_missing.count('<tr><td class="num">') == 3
    assert too_long not in only_missing.split('id="rejected"')[1]
    assert f'<option value="{missing}" selected>' in only_missing
    assert "3 kept rows rejected for this reason." in only_missing
    assert unknown.count('<tr><td class="num">') == 7  # an unknown reason shows all
    assert [r[1] for r in csv_rows[1:]] == [missing] * 3


@pytest.mark.parametrize(
    ("read", "rejected", "threshold", "status"),
    [(100, 0, 0, "succeeded"), (100, 50, 50, "succeeded_with_rejections"),
     (100, 51, 50, "failed"), (3, 1, 33, "failed"), (3, 1, 34, "succeeded_with_rejections"),
     (10, 10, 100, "succeeded_with_rejections"), (10, 1, 0, "failed")],
)  # fmt: skip
def test_above_the_threshold_means_a_larger_share_than_it(read, rejected, threshold, status):
    assert verdict(read=read, rejected=rejected, threshold=threshold).status == status


def test_the_live_run_page_keeps_the_reason_while_it_polls_and_when_the_run_ends(
    alice_client, workspace_a, connection_a
):
    import_obj = add_import(workspace_a, connection_a, status="running")
    run = add_run(import_obj, status="running", rows_read=40, rows_written=37, rows_rejected=3)
    RejectedRow.objects.bulk_create(
        [
            RejectedRow(run=run, row_number=1, reason="No identity", data={}),
            RejectedRow(run=run, row_number=2, reason="Too long", data={}),
            RejectedRow(run=run, row_number=3, reason="No identity", data={}),
        ]
    )
    url = reverse("imports:run", kwargs={"ws": "acme", "run_pk": run.pk})

    live = alice_client.get(url, {"reason": "No identity"}).content.decode()
    assert f'hx-get="{url}?reason=No%20identity"' in live
    ImportRun.objects.filter(pk=run.pk).update(status="succeeded_with_rejections")
    ended = alice_client.get(
        url, {"reason": "No identity"}, headers={"HX-Request": "true"}
    ).content.decode()

    assert '<section id="rejected-rows" hx-swap-oob="true">' in ended
    assert "2 kept rows rejected for this reason." in ended
    assert "hx-trigger" not in ended  # the run ended: polling stops
    assert ">Too long (1 kept row)</option>" in ended
