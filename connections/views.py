"""Connections' own pages: add, edit, Test Connection and the allow-list. The pages that
show a connection's imports (list, detail, delete) are imports/views_connections.py."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from common.middleware import limit_body
from connections import check, crypto, keys, services, tested_values
from connections.forms import ConnectionForm
from connections.keyfile import MAX_KEY_BYTES
from connections.models import Connection
from workspaces.access import WorkspaceRequest, get_in_workspace, workspace_view


@workspace_view
@require_http_methods(["GET", "HEAD"])
def connection_ip_addresses(request: WorkspaceRequest) -> HttpResponse:
    """The FAQ's "IP addresses to allow-list", from the operator's EGRESS_IP_RANGES."""
    return render(request, "connections/ip_addresses.html", {"ranges": settings.EGRESS_IP_RANGES})


def _form_page(
    request: WorkspaceRequest, form: ConnectionForm, status: int = 200, **context
) -> HttpResponse:
    return render(request, "connections/form.html", {"form": form, **context}, status=status)


# The connection forms carry a key (at most 64 KiB) and a few short fields.
KEY_FORM_MAX_BYTES = MAX_KEY_BYTES + 16 * 1024


def _key_too_large(request: WorkspaceRequest, pk=None) -> HttpResponse:
    """A body over KEY_FORM_MAX_BYTES, refused unread: the form with the key's message."""
    connection = get_in_workspace(Connection, request.workspace, pk=pk) if pk else None
    form = ConnectionForm.for_refused_body(workspace=request.workspace, instance=connection)
    form.add_error(
        None,
        "What you sent was too large to read, so nothing of it was kept: enter your changes "
        "again, with the key file as Google gave it.",
    )
    return _form_page(request, form, connection=connection, status=413)


def _messages(form: ConnectionForm) -> dict[str, list[str]]:
    """The form's errors as text, field by field (an ErrorList yields its messages)."""
    return {field: [str(message) for message in errors] for field, errors in form.errors.items()}


def _key_too_large_to_test(request: WorkspaceRequest, pk=None) -> HttpResponse:
    """Test Connection's answer to the same: the checklist fails at the key."""
    connection = get_in_workspace(Connection, request.workspace, pk=pk) if pk else None
    form = ConnectionForm.for_refused_body(workspace=request.workspace, instance=connection)
    result = check.offline_failure(_messages(form))
    if request.htmx:  # htmx swaps in only a 2xx answer
        return render(request, "connections/_form_test.html", {"result": result, "form": form})
    return _form_page(request, form, connection=connection, result=result, status=413)


@workspace_view(admin_only=True)
@limit_body(KEY_FORM_MAX_BYTES, too_large=_key_too_large)
@sensitive_post_parameters("key_text")
@require_http_methods(["GET", "POST"])
def connection_add(request: WorkspaceRequest) -> HttpResponse:
    form = ConnectionForm(request.POST or None, request.FILES or None, workspace=request.workspace)
    # A valid Add Database form always has a key (key_required).
    if request.method == "POST" and form.is_valid() and form.key is not None:
        tested = _kept_test(request, form)
        try:
            connection = services.connection_create(
                workspace=request.workspace,
                created_by=request.user,
                name=form.cleaned_data["name"],
                project_id=form.cleaned_data["project_id"],
                dataset_id=form.cleaned_data["dataset_id"],
                key=form.key,
                tested=tested,
                advanced=form.advanced,
            )
        except services.ConnectionNameTaken:
            form.add_error("name", "Connection name is already used by another connection.")
        else:
            messages.success(request, f"Connection “{connection.name}” saved.")
            if tested is not None:
                messages.info(request, _kept_note(tested))
            if form.key_project_note:
                messages.info(request, form.key_project_note)
            return redirect("connections:detail", ws=request.workspace.slug, pk=connection.pk)
    return _form_page(request, form)


def _tested_digest(request: WorkspaceRequest, form: ConnectionForm) -> str:
    return tested_values.values_digest(
        workspace=request.workspace,
        connection=form.instance,
        project_id=form.cleaned_data["project_id"],
        dataset_id=form.cleaned_data["dataset_id"],
        key=form.key,
        billing_project_id=form.cleaned_data.get("billing_project_id") or "",
        scratch_dataset_id=form.cleaned_data.get("scratch_dataset_id") or "",
    )


def _kept_test(request: WorkspaceRequest, form: ConnectionForm) -> tested_values.KeptTest | None:
    """The Test Connection run on exactly the values about to be saved, if there was one."""
    return tested_values.recall(request.session, digest=_tested_digest(request, form))


def _kept_note(tested: tested_values.KeptTest) -> str:
    outcome = "passed" if tested.result["ok"] else "did not pass"
    return f"Test Connection {outcome} on these values; its result is kept with the connection."


@workspace_view(admin_only=True)
@limit_body(KEY_FORM_MAX_BYTES, too_large=_key_too_large_to_test)
@sensitive_post_parameters("key_text")
@require_POST
def connection_add_test(request: WorkspaceRequest) -> HttpResponse:
    """Test Connection on the typed values, before saving."""
    form = ConnectionForm(request.POST, request.FILES, workspace=request.workspace)
    return _test_typed_values(request, form)


@workspace_view(admin_only=True)
@limit_body(KEY_FORM_MAX_BYTES, too_large=_key_too_large_to_test)
@sensitive_post_parameters("key_text")
@require_POST
def connection_edit_test(request: WorkspaceRequest, pk) -> HttpResponse:
    connection = get_in_workspace(Connection, request.workspace, pk=pk)
    form = ConnectionForm(
        request.POST, request.FILES, workspace=request.workspace, instance=connection
    )
    return _test_typed_values(request, form, connection=connection)


# What Test Connection checks; errors in other fields (the name) do not stop it.
TESTED_FIELDS = (
    "key_file",
    "key_text",
    "project_id",
    "dataset_id",
    "billing_project_id",
    "scratch_dataset_id",
    NON_FIELD_ERRORS,
)

RATE_LIMITED = (
    f"You ran Test Connection more than {services.TEST_CONNECTION_WINDOW.limit} times in a minute. "
    "Wait a minute and try again."
)


def _test_typed_values(
    request: WorkspaceRequest, form: ConnectionForm, connection: Connection | None = None
) -> HttpResponse:
    if not services.connection_test_allowed(user=request.user):
        if request.htmx:
            return render(request, "connections/_rate_limited.html", {"message": RATE_LIMITED})
        form.is_valid()
        response = _form_page(request, form, connection=connection, rate_limited=RATE_LIMITED)
        response.status_code = 429
        return response
    form.is_valid()
    _drop_missing_name(form)
    if any(field in form.errors for field in TESTED_FIELDS):
        result = check.offline_failure(_messages(form))
    else:
        # The name plays no part in the test: a taken or mistyped one must not stop it.
        try:
            key_info = _key_to_test(form, connection)
        except crypto.KeyDecryptionError as error:
            result = check.stored_key_failure(error)
        else:
            result = check.run_connection_test(
                key_info=key_info,
                project_id=form.cleaned_data["project_id"],
                dataset_id=form.cleaned_data["dataset_id"],
                workspace_id=request.workspace.pk,
                maximum_bytes_billed=form.cleaned_data.get("maximum_bytes_billed"),
                billing_project_id=form.cleaned_data["billing_project_id"],
                scratch_dataset_id=form.cleaned_data["scratch_dataset_id"],
            )
        # Saving exactly these values later keeps this result (the key stays out of the form).
        tested_values.remember(request.session, digest=_tested_digest(request, form), result=result)
    services.connection_test_audit(
        workspace=request.workspace,
        actor=request.user,
        result=result,
        connection=connection,
        typed=True,
    )
    if request.htmx:
        # The checklist, and every field's errors as they are now: none from an earlier
        # Save may stay next to a field that has since been corrected.
        return render(request, "connections/_form_test.html", {"result": result, "form": form})
    return _form_page(request, form, connection=connection, result=result)


def _key_to_test(form: ConnectionForm, connection: Connection | None) -> dict[str, Any]:
    """The typed key, else (editing without a new key) the one kept; KeyDecryptionError when
    that cannot be decrypted."""
    if form.key is not None:
        return form.key.info
    if connection is not None:
        return keys.connection_key_info(connection)
    # Never: a new connection's missing key is a form error (TESTED_FIELDS).
    raise ValueError("Test Connection needs a key.")


def _drop_missing_name(form: ConnectionForm) -> None:
    """Test Connection needs no name yet: an empty one is an error only when saving."""
    name_errors = form.errors.as_data().get("name", [])
    if name_errors and all(error.code == "required" for error in name_errors):
        del form.errors["name"]


@workspace_view(admin_only=True)
@require_POST
def connection_test(request: WorkspaceRequest, pk) -> HttpResponse:
    """Test a saved connection and store the result on it."""
    connection = get_in_workspace(Connection, request.workspace, pk=pk)
    if not services.connection_test_allowed(user=request.user):
        if request.htmx:
            return render(request, "connections/_rate_limited.html", {"message": RATE_LIMITED})
        messages.error(request, RATE_LIMITED)
        return redirect("connections:detail", ws=request.workspace.slug, pk=connection.pk)
    result = check.run_saved_connection_test(connection)
    services.connection_record_test(connection=connection, actor=request.user, result=result)
    if request.htmx:
        return render(
            request, "connections/_checklist.html", {"result": result, "connection": connection}
        )
    if result["ok"] and result.get("warnings"):
        messages.warning(request, f"Test Connection: {result['summary']}")
    elif result["ok"]:
        messages.success(request, "Test Connection passed.")
    elif check.has_failure(result):
        messages.error(request, f"Test Connection failed. {result['summary']}")
    else:
        messages.warning(
            request, f"Test Connection could not confirm every check. {result['summary']}"
        )
    return redirect("connections:detail", ws=request.workspace.slug, pk=connection.pk)


@workspace_view(admin_only=True)
@limit_body(KEY_FORM_MAX_BYTES, too_large=_key_too_large)
@sensitive_post_parameters("key_text")
@require_http_methods(["GET", "POST"])
def connection_edit(request: WorkspaceRequest, pk) -> HttpResponse:
    connection = get_in_workspace(Connection, request.workspace, pk=pk)
    form = ConnectionForm(
        request.POST or None,
        request.FILES or None,
        workspace=request.workspace,
        instance=connection,
    )
    if request.method == "POST" and form.is_valid():
        tested = _kept_test(request, form)
        try:
            services.connection_update(
                connection=connection,
                actor=request.user,
                name=form.cleaned_data["name"],
                project_id=form.cleaned_data["project_id"],
                dataset_id=form.cleaned_data["dataset_id"],
                key=form.key,
                tested=tested,
                advanced=form.advanced,
            )
        except services.ConnectionNameTaken:
            form.add_error("name", "Connection name is already used by another connection.")
        else:
            messages.success(request, f"Connection “{connection.name}” updated.")
            if tested is not None:
                messages.info(request, _kept_note(tested))
            if form.key and tested is None:
                messages.info(request, "The key was replaced. Run Test Connection to check it.")
            elif form.key:
                messages.info(request, "The key was replaced.")
            return redirect("connections:detail", ws=request.workspace.slug, pk=connection.pk)
    return _form_page(request, form, connection=connection)
