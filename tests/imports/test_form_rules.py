"""The Create Import and Edit forms on their own: what each keeps, and what it refuses with
which message."""

import datetime as dt

import pytest

from imports import forms, schedules
from imports.mapping import MAX_PROPERTIES
from imports.models import Import

EVENT_COLUMNS = [
    {"name": "user_id", "type": "STRING"},
    {"name": "event", "type": "STRING"},
    {"name": "ts", "type": "TIMESTAMP"},
    {"name": "amount", "type": "INT64"},
    {"name": "note", "type": "STRING"},
]


def events_data(**fields) -> dict[str, str]:
    data = {
        "target": "events",
        "identity_column": "user_id",
        "event_name_source": "column",
        "event_name_column": "event",
        "timestamp_column": "ts",
        "include_3": "on",
        "property_3": "amount",
    }
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def target_form(data, schema=EVENT_COLUMNS, tz="UTC") -> forms.TargetForm:
    form = forms.TargetForm(data, schema=schema, tz=tz)
    form.is_valid()
    return form


def test_the_identity_name_and_time_columns_are_not_mapped_again_and_the_rest_keep_their_choice():
    form = target_form(events_data(property_3="Amount"))

    assert form.is_valid(), form.errors
    assert form.cleaned_data["column_mapping"] == [
        {"column": "amount", "property": "Amount", "include": True},
        {"column": "note", "property": "note", "include": False},  # left out: no name needed
    ]
    assert (form.cleaned_data["source_time_zone"], form.cleaned_data["timestamp_unit"]) == ("", "")


def test_the_event_name_comes_from_a_column_unless_a_fixed_one_is_chosen():
    form = target_form(events_data(event_name_source=""))

    assert form.is_valid(), form.errors
    assert (form.cleaned_data["event_name_column"], form.cleaned_data["event_name_fixed"]) == (
        "event",
        "",
    )


@pytest.mark.parametrize(
    ("typed", "kept", "error"),
    [
        ("  Signed up  ", "Signed up", None),
        ("e" * 255, "e" * 255, None),
        ("e" * 256, None, "The event name must be at most 255 characters (it has 256)."),
        ("Signed\x07up", None, "The event name must not contain control characters."),
        ("   ", None, "Enter the event name."),
    ],
)
def test_a_fixed_event_name_is_trimmed_and_checked(typed, kept, error):
    form = target_form(events_data(event_name_source="fixed", event_name_fixed=typed))

    if error is None:
        assert form.is_valid(), form.errors
        assert form.cleaned_data["event_name_fixed"] == kept
        assert form.cleaned_data["event_name_column"] == ""
    else:
        assert form.errors["event_name_fixed"] == [error]


DATETIME_COLUMNS = [
    {"name": "user_id", "type": "STRING"},
    {"name": "event", "type": "STRING"},
    {"name": "ts", "type": "DATETIME"},
    {"name": "epoch", "type": "INT64"},
]


def test_a_datetime_timestamp_without_a_zone_is_in_the_workspaces_zone():
    form = target_form(events_data(include_3=None), schema=DATETIME_COLUMNS, tz="Asia/Kolkata")

    assert form.is_valid(), form.errors
    assert form.cleaned_data["source_time_zone"] == "Asia/Kolkata"


def test_an_unknown_source_time_zone_is_refused_by_name():
    form = target_form(
        events_data(include_3=None, source_time_zone="Mars/Olympus"), schema=DATETIME_COLUMNS
    )

    assert form.errors["source_time_zone"] == [
        "“Mars/Olympus” is not a time zone; choose one from the list."
    ]


@pytest.mark.parametrize(
    ("timestamp", "field", "typed", "error"),
    [
        ("ts", "source_time_zone", "Europe/Berlin\x00", "The time zone must not contain control characters."),
        ("ts", "source_time_zone", "x" * 65, "Choose a time zone from the list."),
        ("epoch", "timestamp_unit", "fortnights", "Choose seconds, milliseconds or microseconds."),
    ],
)  # fmt: skip
def test_a_refused_time_setting_gets_one_message(timestamp, field, typed, error):
    data = events_data(include_3=None, timestamp_column=timestamp, **{field: typed})

    form = target_form(data, schema=DATETIME_COLUMNS)

    assert form.errors == {field: [error]}


def test_an_int64_timestamp_needs_its_unit():
    data = events_data(include_3=None, timestamp_column="epoch")

    refused = target_form(data, schema=DATETIME_COLUMNS)
    kept = target_form({**data, "timestamp_unit": "milliseconds"}, schema=DATETIME_COLUMNS)

    assert refused.errors["timestamp_unit"] == [
        "Choose whether epoch counts seconds, milliseconds or microseconds since 1970-01-01: "
        "the values are not guessed."
    ]
    assert kept.is_valid(), kept.errors
    assert kept.cleaned_data["timestamp_unit"] == "milliseconds"
    assert kept.cleaned_data["source_time_zone"] == ""


REPEATED_COLUMNS = [
    {"name": "user_id", "type": "STRING"},
    {"name": "event", "type": "STRING"},
    {"name": "ts", "type": "TIMESTAMP"},
    {"name": "aliases", "type": "STRING", "mode": "repeated"},
]


def test_a_repeated_column_is_no_identity_even_when_its_mode_is_lowercase():
    form = target_form(
        {"target": "profiles", "identity_column": "aliases"}, schema=REPEATED_COLUMNS
    )

    assert form.errors["identity_column"] == [
        "The identity column must be a STRING or INT64 column; “aliases” is ARRAY<STRING>."
    ]


def test_the_event_id_column_is_checked_for_events_and_ignored_for_profiles():
    repeated = target_form(events_data(include_3=None, event_id_column="aliases"), REPEATED_COLUMNS)
    unknown = target_form(events_data(include_3=None, event_id_column="nope"), REPEATED_COLUMNS)
    profiles = target_form(
        {"target": "profiles", "identity_column": "user_id", "event_id_column": "aliases"},
        REPEATED_COLUMNS,
    )

    assert repeated.errors["event_id_column"] == [
        "The event ID column must be a STRING or INT64 column; “aliases” is ARRAY<STRING>."
    ]
    assert unknown.errors["event_id_column"] == ["Column “nope” is not in the source."]
    assert profiles.is_valid(), profiles.errors
    assert profiles.cleaned_data["event_id_column"] == ""
    assert profiles.cleaned_data["null_policy"] == Import.NullPolicy.KEEP  # blank: keep


@pytest.mark.parametrize(("first", "second"), [("Amount", "amount"), ("amount", "Amount")])
def test_property_names_differing_only_in_case_clash(first, second):
    form = target_form(events_data(property_3=first, include_4="on", property_4=second))

    assert form.errors["property_4"] == [
        f"Property name “{second}” is already used for column amount; each property needs its "
        "own name."
    ]


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("p" * 255, None),
        ("p" * 256, "Property name must be at most 255 characters (it has 256)."),
        ("total\x00", "Property name must not contain control characters."),
        ("total\x1b", "Property name must not contain control characters."),
    ],
)
def test_a_property_name_is_short_and_plain(typed, error):
    form = target_form(events_data(property_3=typed))

    if error is None:
        assert form.is_valid(), form.errors
    else:
        assert form.errors["property_3"] == [error]


def wide_schema(columns: int) -> list[dict[str, str]]:
    return [{"name": "user_id", "type": "STRING"}] + [
        {"name": f"c{i}", "type": "STRING"} for i in range(columns)
    ]


@pytest.mark.parametrize(
    ("properties", "valid"), [(MAX_PROPERTIES, True), (MAX_PROPERTIES + 1, False)]
)
def test_at_most_255_properties(properties, valid):
    data = {"target": "profiles", "identity_column": "user_id"}
    for i in range(1, properties + 1):
        data |= {f"include_{i}": "on", f"property_{i}": f"c{i - 1}"}

    form = target_form(data, schema=wide_schema(properties))

    assert form.is_valid() is valid
    if not valid:
        assert form.non_field_errors() == [
            f"At most 255 columns can be imported as properties; {properties} are chosen. "
            "Leave some out."
        ]


def test_a_table_with_an_event_column_but_no_time_is_guessed_to_be_profiles():
    schema = [{"name": "user_id", "type": "STRING"}, {"name": "event", "type": "STRING"}]

    form = forms.TargetForm(schema=schema)

    assert form.initial["target"] == Import.Target.PROFILES
    assert form.initial["event_name_column"] == "event"


SYNC_COLUMNS = [
    {"name": "user_id", "type": "STRING"},
    {"name": "updated_at", "type": "TIMESTAMP"},
    {"name": "version", "type": "INT64"},
    {"name": "stamps", "type": "TIMESTAMP", "mode": "REPEATED"},
]


def test_a_full_sync_keeps_no_cursor_and_no_lookback():
    form = forms.SyncForm(
        {"sync_mode": "full", "cursor_column": "updated_at", "lookback_seconds": "3600"},
        schema=SYNC_COLUMNS,
    )

    assert form.is_valid(), form.errors
    assert (form.cleaned_data["cursor_column"], form.cleaned_data["cursor_type"]) == ("", "")
    assert form.cleaned_data["lookback_seconds"] == 0


def test_an_incremental_sync_refuses_an_array_cursor_and_a_lookback_on_an_int64_one():
    array = forms.SyncForm(
        {"sync_mode": "incremental", "cursor_column": "stamps"}, schema=SYNC_COLUMNS
    )
    integer = forms.SyncForm(
        {"sync_mode": "incremental", "cursor_column": "version", "lookback_seconds": "3600"},
        schema=SYNC_COLUMNS,
    )

    assert array.errors["cursor_column"] == [
        "The cursor column must be a TIMESTAMP, DATETIME, DATE or INT64 column; “stamps” is "
        "ARRAY<TIMESTAMP>."
    ]
    assert integer.errors["lookback_seconds"][0].startswith("A lookback window needs a TIMESTAMP")


def test_the_sync_step_suggests_an_updated_column_as_the_cursor():
    assert forms.SyncForm(schema=SYNC_COLUMNS).initial["cursor_column"] == "updated_at"


def test_the_suggested_cursor_is_an_updated_column_of_a_cursor_type_in_any_case():
    schema = [
        {"name": "updated_by", "type": "STRING"},
        {"name": "updated_stamps", "type": "TIMESTAMP", "mode": "REPEATED"},
        {"name": "LastUpdated", "type": "DATETIME"},
    ]

    assert forms.SyncForm(schema=schema).initial["cursor_column"] == "LastUpdated"


def test_the_sync_step_starts_on_full_with_no_lookback():
    form = forms.SyncForm(schema=SYNC_COLUMNS)

    assert form["sync_mode"].value() == Import.SyncMode.FULL
    assert form["lookback_seconds"].value() == 0


def test_a_source_whose_only_time_column_is_an_array_has_no_cursor_to_offer():
    array_only = [{"name": "user_id", "type": "STRING"}, SYNC_COLUMNS[-1]]

    assert forms.SyncForm(schema=array_only).has_cursor_columns is False
    assert forms.SyncForm(schema=SYNC_COLUMNS).has_cursor_columns is True


def test_an_incremental_sync_with_the_lookback_left_empty_looks_back_zero_seconds():
    form = forms.SyncForm(
        {"sync_mode": "incremental", "cursor_column": "updated_at", "lookback_seconds": ""},
        schema=SYNC_COLUMNS,
    )

    assert form.is_valid(), form.errors
    assert form.cleaned_data["lookback_seconds"] == 0


def test_a_cursor_column_with_a_nul_gets_one_message():
    form = forms.SyncForm(
        {"sync_mode": "incremental", "cursor_column": "updated\x00at"}, schema=SYNC_COLUMNS
    )

    assert form.errors["cursor_column"] == ["Null characters are not allowed."]


def test_a_cron_expression_is_kept_with_single_spaces():
    form = forms.ScheduleForm(
        {"schedule_kind": "cron", "schedule_cron": " 0  9 *\t* 1-5 "}, tz="UTC"
    )

    assert form.is_valid(), form.errors
    assert form.cleaned_data["schedule_cron"] == "0 9 * * 1-5"


def test_the_schedule_step_starts_on_once_now():
    assert forms.ScheduleForm(tz="UTC")["schedule_kind"].value() == "now"


def test_the_schedule_step_offers_each_kind_once_with_no_schedule_last():
    choices = forms.ScheduleForm(tz="UTC").fields["schedule_kind"].choices

    assert [kind for kind, _ in choices] == [
        "now", "once", "hourly", "daily", "weekly", "cron", "none"
    ]  # fmt: skip


@pytest.mark.parametrize(("typed", "minute"), [("0", 0), ("59", 59)])
def test_an_hourly_schedule_takes_minutes_0_to_59(typed, minute):
    form = forms.ScheduleForm({"schedule_kind": "hourly", "schedule_minute": typed}, tz="UTC")

    assert form.is_valid(), form.errors
    assert form.cleaned_data["schedule_time"] == dt.time(0, minute)


def test_an_hourly_minute_below_0_is_refused():
    form = forms.ScheduleForm({"schedule_kind": "hourly", "schedule_minute": "-1"}, tz="UTC")

    assert form.errors == {"schedule_minute": ["Minute must be from 0 to 59."]}


def test_a_cron_expression_of_100_characters_is_read_and_one_of_101_is_refused():
    spaced = "0" + " " * 90 + "9 * * 1-5"  # 100 characters, kept with single spaces
    longer = "0" + " " * 91 + "9 * * 1-5"
    assert len(spaced) == 100

    kept = forms.ScheduleForm({"schedule_kind": "cron", "schedule_cron": spaced}, tz="UTC")
    refused = forms.ScheduleForm({"schedule_kind": "cron", "schedule_cron": longer}, tz="UTC")

    assert kept.is_valid(), kept.errors
    assert kept.cleaned_data["schedule_cron"] == "0 9 * * 1-5"
    assert refused.errors == {"schedule_cron": ["Cron expression must be at most 100 chars."]}


def test_a_daily_time_may_be_typed_with_seconds():
    form = forms.ScheduleForm({"schedule_kind": "daily", "schedule_time": "09:30:00"}, tz="UTC")

    assert form.is_valid(), form.errors
    assert form.cleaned_data["schedule_time"] == dt.time(9, 30)


@pytest.mark.parametrize(
    "typed",
    ["2030-06-30T09:00", "2030-06-30T09:00:45", "2030-06-30 09:00", "2030-06-30 09:00:45",
     "  2030-06-30T09:00\n"],
)  # fmt: skip
def test_a_run_at_is_read_with_a_t_or_a_space_with_or_without_seconds(typed):
    form = forms.ScheduleForm(
        {"schedule_kind": "once", "schedule_at": typed},
        tz="Europe/Berlin",
        now=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )

    assert form.is_valid(), form.errors
    assert form.cleaned_data["schedule_at"] == dt.datetime(2030, 6, 30, 7, tzinfo=dt.UTC)


def test_a_weekly_time_that_is_not_a_time_is_said_so():
    form = forms.ScheduleForm(
        {"schedule_kind": "weekly", "schedule_weekday": "0", "schedule_time": "25:00"}, tz="UTC"
    )

    assert form.errors == {"schedule_time": ["Enter a time such as 09:30."]}


def test_a_run_at_is_judged_against_the_time_the_form_is_given():
    data = {"schedule_kind": "once", "schedule_at": "2021-06-30T09:00"}

    then = forms.ScheduleForm(data, tz="UTC", now=dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
    later = forms.ScheduleForm(data, tz="UTC", now=dt.datetime(2022, 1, 1, tzinfo=dt.UTC))

    assert then.is_valid(), then.errors
    assert later.errors == {"schedule_at": ["Run at must be in the future."]}


def test_the_schedule_is_in_the_zone_the_form_is_given():
    form = forms.ScheduleForm(
        {"schedule_kind": "daily", "schedule_time": "09:30"}, tz="Asia/Kolkata"
    )

    assert form.is_valid(), form.errors
    assert form.schedule() == schedules.Schedule("daily", time=dt.time(9, 30), tz="Asia/Kolkata")


def test_a_daily_schedule_keeps_no_weekday():
    form = forms.ScheduleForm(
        {"schedule_kind": "daily", "schedule_time": "09:30", "schedule_weekday": "2"}, tz="UTC"
    )

    assert form.is_valid(), form.errors
    assert form.cleaned_data["schedule_weekday"] is None


def test_a_table_source_keeps_no_query_and_a_query_source_no_table():
    table = forms.SourceForm({"source_kind": "table", "table": "users", "query": "SELECT 1"})
    query = forms.SourceForm({"source_kind": "query", "table": "users", "query": "SELECT 1"})

    assert table.is_valid() and query.is_valid()
    assert (table.cleaned_data["table"], table.cleaned_data["query"]) == ("users", "")
    assert (query.cleaned_data["table"], query.cleaned_data["query"]) == ("", "SELECT 1")


def test_a_too_long_table_name_gets_one_message():
    form = forms.SourceForm({"source_kind": "table", "table": "t" * 1025})

    assert form.errors["table"] == ["Table name must be at most 1,024 characters."]


def test_edit_asks_for_the_event_id_of_events_and_the_null_policy_of_profiles():
    events = forms.SemanticsForm(
        {"event_id_column": "event"},
        import_obj=Import(target="events", source_schema=EVENT_COLUMNS),
    )
    profiles = forms.SemanticsForm(
        {"null_policy": "overwrite", "identity_lowercase": "on"},
        import_obj=Import(target="profiles", source_schema=EVENT_COLUMNS),
    )

    assert events.is_valid() and profiles.is_valid()
    assert events.definition() == {
        "event_id_column": "event",
        "identity_trim": False,
        "identity_lowercase": False,
    }
    assert profiles.definition() == {
        "null_policy": "overwrite",
        "identity_trim": False,
        "identity_lowercase": True,
    }


def test_the_event_id_choices_are_none_then_the_string_and_int64_columns():
    form = forms.SemanticsForm(import_obj=Import(target="events", source_schema=EVENT_COLUMNS))

    assert form.fields["event_id_column"].widget.choices == [
        ("", "None: identical rows collapse into one event"),
        ("user_id", "user_id (STRING)"),
        ("event", "event (STRING)"),
        ("amount", "amount (INT64)"),
        ("note", "note (STRING)"),
    ]


def test_edit_refuses_an_event_id_column_the_source_does_not_have():
    form = forms.SemanticsForm(
        {"event_id_column": "nope"},
        import_obj=Import(target="events", source_schema=EVENT_COLUMNS),
    )

    assert form.errors["event_id_column"] == ["Column “nope” is not in the source."]


def test_a_column_choice_with_a_nul_gets_one_message():
    form = target_form({"target": "profiles", "identity_column": "user\x00id"})

    assert form.errors["identity_column"] == ["Null characters are not allowed."]


def test_an_unknown_event_name_source_is_the_only_message_about_the_event_name():
    form = target_form(events_data(event_name_source="guess", event_name_column=""))

    assert form.errors["event_name_source"] == [
        "Choose an event name from a column or a fixed one."
    ]
    assert "event_name_column" not in form.errors
    assert "event_name_fixed" not in form.errors


def definition_of(source_kind: str, target_fields: dict[str, str]) -> dict:
    """The Import fields from a source over DATETIME_COLUMNS and a choice at each step; the
    source has both a table and a query typed, as after switching between them."""
    steps = {
        "target": target_form(
            events_data(include_3=None, property_3=None, **target_fields), DATETIME_COLUMNS
        ),
        "sync": forms.SyncForm(
            {"sync_mode": "incremental", "cursor_column": "ts", "lookback_seconds": "3600"},
            schema=DATETIME_COLUMNS,
        ),
        "schedule": forms.ScheduleForm(
            {"schedule_kind": "weekly", "schedule_weekday": "2", "schedule_time": "07:00"},
            tz="UTC",
        ),
        "review": forms.ReviewForm({"name": "Signups", "maximum_bytes_billed": "1073741824"}),
    }
    for form in steps.values():
        assert form.is_valid(), form.errors
    source = {"kind": source_kind, "table": "signups", "query": "SELECT 1", "schema": []}
    return forms.definition(source=source, **steps)


def test_the_definition_takes_each_field_from_its_step():
    datetime = definition_of(
        "query",
        {
            "source_time_zone": "Asia/Kolkata",
            "event_id_column": "epoch",
            "null_policy": "overwrite",
            "identity_trim": "on",
        },
    )
    epoch = definition_of("table", {"timestamp_column": "epoch", "timestamp_unit": "milliseconds"})

    assert datetime == {
        "name": "Signups",
        "source_kind": "query",
        "source_table": "",
        "source_query": "SELECT 1",
        "source_schema": [],
        "target": "events",
        "identity_column": "user_id",
        "event_name_column": "event",
        "event_name_fixed": "",
        "timestamp_column": "ts",
        "source_time_zone": "Asia/Kolkata",
        "timestamp_unit": "",
        "column_mapping": [{"column": "epoch", "property": "epoch", "include": False}],
        "event_id_column": "epoch",
        "null_policy": "overwrite",
        "identity_trim": True,
        "identity_lowercase": False,
        "sync_mode": "incremental",
        "cursor_column": "ts",
        "cursor_type": "DATETIME",
        "rejection_threshold": forms.DEFAULT_REJECTION_THRESHOLD,
        "lookback_seconds": 3600,
        "schedule_kind": "weekly",
        "schedule_at": None,
        "schedule_time": dt.time(7),
        "schedule_weekday": 2,
        "schedule_cron": "",
        "maximum_bytes_billed": 2**30,
    }
    assert (epoch["timestamp_column"], epoch["timestamp_unit"]) == ("epoch", "milliseconds")
    assert (epoch["source_time_zone"], epoch["identity_trim"]) == ("", False)
    assert (epoch["source_table"], epoch["source_query"]) == ("signups", "")


def test_an_import_name_of_100_characters_is_kept_trimmed():
    form = forms.ReviewForm({"name": "  " + "n" * 100 + " "})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["name"] == "n" * 100
