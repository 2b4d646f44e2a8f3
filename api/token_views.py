"""The API tokens page. Anyone in the workspace manages their own tokens (a member's can only
read); admins also see every token of the workspace and may revoke any of them."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from api import scopes, selectors, services, tokens
from api.forms import SCOPE_HELP, ApiTokenForm
from api.models import ApiToken
from workspaces.access import WorkspaceRequest, workspace_view


def _page(request: WorkspaceRequest, form: ApiTokenForm, **context: Any) -> HttpResponse:
    visible = list(
        selectors.api_tokens_visible_to(workspace=request.workspace, membership=request.membership)
    )
    for token in visible:
        token.display = tokens.token_display(token.prefix)
    allowed = scopes.scopes_for_role(request.membership.role)
    return render(
        request,
        "api/tokens.html",
        {
            "form": form,
            "tokens": visible,
            "scope_options": [
                (scope.value, scope.label, SCOPE_HELP[scope])
                for scope in ApiToken.Scope  # the form's scope choices
                if scope in allowed
            ],
            **context,
        },
    )


@workspace_view(members_may_change=True)
@require_http_methods(["GET", "HEAD", "POST"])
def token_list(request: WorkspaceRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None, time_zone=request.workspace.time_zone)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.api_token_create(
                workspace=request.workspace,
                user=request.user,
                role=request.membership.role,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires_at=form.expires_at,
                form_nonce=form.cleaned_data["nonce"],
            )
        except services.TokenRefused as exc:
            form.add_error(exc.field, str(exc))
        except services.TokenAlreadyCreated as exc:
            messages.info(
                request,
                f"This form was sent already: token “{exc.token.name}” was created then, and "
                "shown once. If you did not copy it, revoke it and create another.",
            )
            return redirect("api_tokens:list", ws=request.workspace.slug)
        else:
            # Shown in this answer only: not in a redirect, a message, the session or a log.
            response = _page(
                request,
                ApiTokenForm(time_zone=request.workspace.time_zone),
                created=created.token,
                created_text=created.text,
            )
            response["Cache-Control"] = "no-store"
            return response
    return _page(request, form)


@workspace_view(members_may_change=True)
@require_http_methods(["GET", "HEAD", "POST"])
def token_revoke(request: WorkspaceRequest, token_pk: Any) -> HttpResponse:
    token = selectors.api_token_get_for_user(
        workspace=request.workspace, membership=request.membership, pk=token_pk
    )
    if request.method == "POST":
        services.api_token_revoke(token=token, actor=request.user)
        messages.success(request, f"Token “{token.name}” revoked. Requests that use it now fail.")
        return redirect("api_tokens:list", ws=request.workspace.slug)
    token.display = tokens.token_display(token.prefix)
    return render(request, "api/token_revoke.html", {"token": token})
