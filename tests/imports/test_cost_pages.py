"""Bytes and cost on the pages: each run's estimate, bytes scanned and billed (run page and
run history), and the import page's monthly projection and limit."""

import datetime as dt

import pytest
from django.utils import timezone

from connections.models import Connection
from imports import cost
from imports.models import Import
from tests.connections.conftest import make_connection
from tests.imports.test_pages import add_import, add_run, detail_url, run_url

MIB = 1024**2


@pytest.fixture
def connection(workspace_a, alice):
    return make_connection(workspace_a, alice)


@pytest.fixture
def users_import(workspace_a, connection, alice):
    return add_import(workspace_a, connection, created_by=alice)


@pytest.fixture
def daily_import(workspace_a, connection, alice):
    return add_import(
        workspace_a, connection, created_by=alice, schedule_kind="daily",
        schedule_time=dt.time(6, 0),
    )  # fmt: skip


def test_the_import_page_projects_a_month_from_recent_successful_runs(
    alice_client, daily_import, users_import
):
    add_run(daily_import, bytes_billed=300 * MIB)
    add_run(daily_import, status="succeeded_with_rejections", bytes_billed=500 * MIB)
    add_run(daily_import, status="failed", bytes_billed=90_000 * MIB)  # not a typical run
    add_run(users_import, bytes_billed=90_000 * MIB)  # another import's

    page = alice_client.get(detail_url(daily_import)).content.decode()

    # 400 MiB × 30.4 daily runs = 11.9 GiB; 11.9 / 1024 TiB × $6.25 = $0.07
    assert (
        "About 11.9 GB a month, about $0.07 at $6.25 per TiB: about 30 runs a month, each "
        "run bills about 400.0 MB (the mean of its last 2 successful runs)."
    ) in page


def test_the_price_per_tib_is_a_setting(settings, daily_import):
    settings.BIGQUERY_PRICE_PER_TIB = 5.0
    add_run(daily_import, bytes_billed=2**40)

    projection = cost.monthly_projection(daily_import)

    assert projection is not None
    assert "about $152.19 at $5 per TiB" in projection.text()


def test_a_manual_import_shows_the_cost_of_a_run(alice_client, users_import):
    add_run(users_import, bytes_billed=10 * MIB)

    page = alice_client.get(detail_url(users_import)).content.decode()

    assert (
        "It runs only when started; each run bills about 10.0 MB (the mean of its last 1 "
        "successful run), less than $0.01 a run at $6.25 per TiB."
    ) in page


def test_without_runs_there_is_nothing_to_project(alice_client, users_import):
    page = alice_client.get(detail_url(users_import)).content.decode()

    assert "Not known yet: the projection follows from the bytes billed" in page
    assert "1.0 TB per query (the server&#x27;s default)" in page


def test_the_imports_own_limit_is_named(alice_client, users_import):
    Import.objects.filter(pk=users_import.pk).update(maximum_bytes_billed=5 * 1024**3)

    page = alice_client.get(detail_url(users_import)).content.decode()

    assert "5.0 GB per query (this import&#x27;s own limit)" in page


def test_the_run_page_and_history_show_bytes_estimated_scanned_and_billed(
    alice_client, users_import
):
    run = add_run(
        users_import, bytes_estimated=12 * MIB, bytes_scanned=11 * MIB, bytes_billed=23 * MIB
    )

    page = alice_client.get(run_url(run)).content.decode()
    history = alice_client.get(detail_url(users_import)).content.decode()

    assert '<dd id="run-bytes-estimated">12.0\xa0MB' in page
    assert "<dt>Bytes scanned</dt><dd>11.0\xa0MB" in page
    assert '<dd id="run-bytes-billed">23.0\xa0MB' in page
    assert '23.0\xa0MB<br><span class="help">11.0\xa0MB</span>' in history


def test_the_projection_takes_the_mean_of_the_ten_newest_successful_runs(daily_import):
    add_run(daily_import, ago=dt.timedelta(days=30), bytes_billed=90_000 * MIB)  # the 11th
    for hours in range(1, 11):
        add_run(daily_import, ago=dt.timedelta(hours=hours), bytes_billed=100 * MIB)
    add_run(daily_import, ago=dt.timedelta(minutes=30), bytes_billed=None)  # not known: skipped

    projection = cost.monthly_projection(daily_import)

    assert projection is not None
    assert (projection.runs, projection.mean_billed) == (10, 100 * MIB)


def test_the_mean_billed_is_rounded_to_the_nearest_byte(users_import):
    for hours, billed in ((1, 1), (2, 2), (3, 2)):
        add_run(users_import, ago=dt.timedelta(hours=hours), bytes_billed=billed)

    projection = cost.monthly_projection(users_import)

    assert projection is not None
    assert projection.mean_billed == 2  # 5 / 3 = 1.67


def test_the_bytes_a_month_are_rounded_to_the_nearest_byte():
    assert cost.Projection(runs=1, mean_billed=1, runs_per_month=0.9).bytes_per_month == 1


def test_a_schedules_runs_are_counted_over_a_week_from_now(workspace_a, connection, alice):
    at_six = dt.datetime(2026, 3, 2, 6, tzinfo=dt.UTC)  # a Monday, when the daily import runs
    hourly = add_import(
        workspace_a, connection, name="Hourly", created_by=alice, schedule_kind="hourly",
        schedule_time=dt.time(0, 15),
    )  # fmt: skip
    weekly = add_import(
        workspace_a, connection, name="Weekly", created_by=alice, schedule_kind="weekly",
        schedule_time=dt.time(6, 0), schedule_weekday=0,
    )  # fmt: skip
    daily = add_import(
        workspace_a, connection, name="Daily", created_by=alice, schedule_kind="daily",
        schedule_time=dt.time(6, 0),
    )  # fmt: skip

    # A run exactly a week from now is the week's last: one week's worth, not one less.
    assert cost.runs_per_month(daily, at_six) == pytest.approx(cost.DAYS_PER_MONTH)
    assert cost.runs_per_month(weekly, at_six) == pytest.approx(cost.DAYS_PER_MONTH / 7)
    assert cost.runs_per_month(hourly, at_six) == pytest.approx(24 * cost.DAYS_PER_MONTH)


@pytest.mark.parametrize(
    ("size", "price", "said"),
    [(0, 6.25, "about $0.00"), (2**40, 0.005, "about $0.01"), (2**40, 0.0049, "less than $0.01"),
     (2**40, 1234.5, "about $1,234.50")],
)  # fmt: skip
def test_dollars_say_less_than_a_cent_only_for_a_positive_amount_that_rounds_to_zero(
    size, price, said
):
    assert cost.dollars(size, price) == said


def test_a_run_that_billed_nothing_counts_toward_the_mean(users_import):
    add_run(users_import, ago=dt.timedelta(hours=1), bytes_billed=0)  # e.g. a cached result
    add_run(users_import, ago=dt.timedelta(hours=2), bytes_billed=100 * MIB)
    add_run(users_import, ago=dt.timedelta(hours=3), bytes_billed=None)  # not known

    projection = cost.monthly_projection(users_import)

    assert projection is not None
    assert (projection.runs, projection.mean_billed) == (2, 50 * MIB)


def test_a_cron_schedules_runs_are_counted_too(workspace_a, connection, alice):
    monday = dt.datetime(2026, 3, 2, 6, tzinfo=dt.UTC)
    every_six_hours = add_import(
        workspace_a, connection, name="Cron", created_by=alice, schedule_kind="cron",
        schedule_cron="0 */6 * * *",
    )  # fmt: skip

    assert cost.runs_per_month(every_six_hours, monday) == pytest.approx(4 * cost.DAYS_PER_MONTH)


@pytest.mark.parametrize(
    ("cron", "per_month"),
    [("0 3 1 * *", 1.0), ("0 3 1,15 * *", 2.0), ("0 0 1 1 *", 1 / 12), ("0 6 * * 1", 4.35)],
)
@pytest.mark.parametrize(
    "now",
    [
        dt.datetime(2026, 3, 2, 6, tzinfo=dt.UTC),  # the day after a 1st
        dt.datetime(2026, 12, 31, 23, tzinfo=dt.UTC),  # the hour before one
    ],
)
def test_a_schedule_that_runs_less_than_daily_is_counted_over_years(
    workspace_a, connection, alice, cron, per_month, now
):
    """A week from the 2nd holds no run of a cron on the 1st: counted over a week, it would
    cost nothing; counted over eight years, it runs about once a month."""
    import_obj = add_import(
        workspace_a, connection, name="Sparse", created_by=alice, schedule_kind="cron",
        schedule_cron=cron,
    )  # fmt: skip

    assert cost.runs_per_month(import_obj, now) == pytest.approx(per_month, rel=0.01)


@pytest.mark.parametrize(
    ("per_month", "said"),
    [(720.0, "about 720 runs a month"), (30.4375, "about 30 runs a month"),
     (4.348, "about 4.3 runs a month"), (1.0034, "about 1 run a month"),
     (0.0833, "about 0.1 runs a month")],
)  # fmt: skip
def test_runs_a_month_are_said_to_one_decimal_below_ten(per_month, said):
    text = cost.Projection(runs=1, mean_billed=MIB, runs_per_month=per_month).text()

    assert said in text


def test_a_schedule_with_no_run_in_the_week_is_not_said_to_run_only_when_started():
    # e.g. a cron on February 29 seen in a year without one: scheduled, no run to count.
    text = cost.Projection(runs=1, mean_billed=MIB, runs_per_month=0.0).text()

    assert text.startswith("About 0 bytes a month, about $0.00 at $6.25 per TiB")
    assert "runs only when started" not in text


def test_a_manual_imports_price_is_shown_without_needless_decimals(settings, users_import):
    settings.BIGQUERY_PRICE_PER_TIB = 5.0
    add_run(users_import, bytes_billed=2**40)

    projection = cost.monthly_projection(users_import)

    assert projection is not None
    assert projection.text().endswith("about $5.00 a run at $5 per TiB.")


def test_the_connections_limit_is_named_when_the_import_has_none(alice_client, users_import):
    Connection.objects.filter(pk=users_import.connection_id).update(
        maximum_bytes_billed=20 * 1024**3
    )

    page = alice_client.get(detail_url(users_import)).content.decode()

    assert "20.0 GB per query (the connection&#x27;s limit)" in page


def test_a_sparse_schedule_with_many_runs_is_counted_over_the_runs_it_makes(
    workspace_a, connection, alice
):
    """Hourly on the 1st: no run in the week from the 2nd, 24 on each 1st. Over eight years
    that is more runs than are counted: the month is taken from the time the runs counted
    span, not from the eight years."""
    monday = dt.datetime(2026, 3, 2, 6, tzinfo=dt.UTC)
    on_the_first = add_import(
        workspace_a, connection, name="First", created_by=alice, schedule_kind="cron",
        schedule_cron="0 * 1 * *",
    )  # fmt: skip

    assert cost.runs_per_month(on_the_first, monday) == pytest.approx(24, rel=0.05)


def test_a_schedule_that_skips_weekends_is_counted_over_a_whole_week(
    workspace_a, connection, alice
):
    saturday = dt.datetime(2026, 3, 7, 6, tzinfo=dt.UTC)
    weekdays = add_import(
        workspace_a, connection, name="Weekdays", created_by=alice, schedule_kind="cron",
        schedule_cron="0 6,18 * * 1-5",
    )  # fmt: skip

    # Ten runs a week, Monday to Friday; six days from a Saturday would hold only nine.
    assert cost.runs_per_month(weekdays, saturday) == pytest.approx(10 * cost.DAYS_PER_MONTH / 7)


def test_the_newest_runs_are_those_that_finished_last(daily_import):
    now = timezone.now()
    for hours in range(1, 11):
        add_run(daily_import, ago=dt.timedelta(hours=hours), bytes_billed=100 * MIB)
    # Started before all of them, it ran for a day and has just finished.
    add_run(daily_import, ago=dt.timedelta(hours=24), finished_at=now, bytes_billed=1_100 * MIB)

    projection = cost.monthly_projection(daily_import)

    assert projection is not None
    assert (projection.runs, projection.mean_billed) == (10, 200 * MIB)  # (9×100 + 1,100) / 10
