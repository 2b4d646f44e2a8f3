"""The audit log through the API: admins only, the page's filters, newest first."""

import datetime as dt

from tests.api.conftest import API, error_of
from workspaces.models import AuditEntry

AUDIT = f"{API}/acme/audit/"


def entry(workspace, actor, action, when, label="Warehouse", **details):
    row = AuditEntry.objects.create(
        workspace=workspace,
        actor=actor,
        action=action,
        target_type=action.split(".")[0],
        target_id="1",
        target_label=label,
        details=details,
    )
    AuditEntry.objects.filter(pk=row.pk).update(created_at=when)
    return row


def test_admins_read_the_log_newest_first_with_labels(
    alice_api, alice, bob, workspace_a, workspace_b, charlie
):
    day = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    entry(workspace_a, alice, "connection.created", day, project_id="p")
    entry(workspace_a, None, "import.paused", day + dt.timedelta(hours=1), label="Nightly")
    entry(workspace_b, charlie, "connection.created", day, label="Globex warehouse")

    body = alice_api.get(AUDIT).json()

    rows = [r for r in body["results"] if r["action"] in ("connection.created", "import.paused")]
    assert [(r["action"], r["target_label"]) for r in rows] == [
        ("import.paused", "Nightly"),
        ("connection.created", "Warehouse"),
    ]
    assert rows[0]["actor"] is None and rows[0]["action_label"] == "Import paused"
    assert rows[1]["actor"] == {"id": alice.pk, "email": "alice@acme.test"}
    assert rows[1]["details"] == {"project_id": "p"}
    assert rows[1]["at"] == "2026-03-01T12:00:00Z"
    assert "Globex" not in str(body)


def test_filters_by_actor_action_and_dates_in_the_workspace_zone(
    alice_api, alice, bob, workspace_a
):
    workspace_a.time_zone = "Europe/Berlin"
    workspace_a.save()
    # 23:30 UTC on Mar 1 is Mar 2 in Berlin
    late = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    entry(workspace_a, alice, "import.run_now", late, label="A")
    entry(workspace_a, bob, "import.run_now", late, label="B")
    entry(workspace_a, alice, "import.paused", late, label="C")
    entry(workspace_a, alice, "import.run_now", late - dt.timedelta(days=1), label="D")

    def labels(**params):
        response = alice_api.get(AUDIT, params)
        assert response.status_code == 200, response.content
        return sorted(r["target_label"] for r in response.json()["results"])

    assert labels(actor=alice.pk, action="import.run_now") == ["A", "D"]
    assert labels(action="import.run_now", date_after="2026-03-02") == ["A", "B"]
    assert labels(date_before="2026-03-01") == ["D"]


def test_a_reversed_date_range_is_400(alice_api):
    response = alice_api.get(AUDIT, {"date_after": "2026-03-05", "date_before": "2026-03-01"})

    assert response.status_code == 400
    assert error_of(response)["fields"] == {"date": ["The From date is after the To date."]}


def test_a_member_token_may_not_read_the_audit_log(bob_api):
    response = bob_api.get(AUDIT)

    assert response.status_code == 403
    assert error_of(response)["message"].startswith("Only admins of the workspace")


def test_a_bad_day_is_named_by_the_parameter_sent(alice_api):
    response = alice_api.get(AUDIT, {"date_after": "2026-03-01", "date_before": "2026-02-30"})

    assert response.status_code == 400
    assert error_of(response)["fields"] == {
        "date_before": ["Enter the date as YYYY-MM-DD, e.g. 2026-03-05."]
    }


def test_an_entry_answers_what_was_acted_on(alice_api, alice, workspace_a):
    row = entry(workspace_a, alice, "import.paused", dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    AuditEntry.objects.filter(pk=row.pk).update(target_id="0b5e")

    (listed,) = [r for r in alice_api.get(AUDIT).json()["results"] if r["id"] == row.pk]

    assert set(listed) == {
        "id", "at", "actor", "action", "action_label", "target_type", "target_id",
        "target_label", "details",
    }  # fmt: skip
    assert (listed["target_type"], listed["target_id"]) == ("import", "0b5e")
