from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api.authentication import TokenRequest
from api.errors import Conflict
from api.pagination import NewestFirst
from api.serializers import ErrorSerializer, ImportSerializer, RunSerializer, absolute
from api.views.base import ERRORS, WorkspaceAPIView
from common.csv_stream import csv_response
from imports import exports, selectors, services
from imports.models import Import, ImportRun
from workspaces.access import get_in_workspace

CONFLICT = OpenApiResponse(ErrorSerializer, description="The import's state does not allow it.")


class ImportRunning(Conflict):
    default_code = "import_running"


class IllegalTransition(Conflict):
    default_code = "illegal_transition"


class ImportViewMixin(WorkspaceAPIView):
    serializer_class = ImportSerializer

    def decorate(self, imports: list[Import]) -> list[Import]:
        selectors.attach_latest_runs(imports)
        for import_obj in imports:
            import_obj.schedule_text = selectors.import_schedule_text(
                import_obj=import_obj, time_zone=self.workspace.time_zone
            )
        return imports

    def get_import(self, pk: Any) -> Import:
        """The import with its latest run, for its JSON."""
        queryset = selectors.imports_for_workspace(workspace=self.workspace).select_related(
            "created_by"
        )
        import_obj = get_in_workspace(queryset, self.workspace, pk=pk)
        return self.decorate([import_obj])[0]


class ImportList(ImportViewMixin, WorkspaceAPIView):
    pagination_class = NewestFirst

    @extend_schema(
        summary="List imports",
        parameters=[
            OpenApiParameter(
                "search", str, description="Part of the import's or connection's name."
            ),
            OpenApiParameter("status", str, enum=Import.Status.values),
            OpenApiParameter("connection", OpenApiTypes.UUID),
            OpenApiParameter("target", str, enum=Import.Target.values),
            OpenApiParameter("page_size", int, description="1 to 200; default 50."),
        ],
        responses={200: ImportSerializer(many=True), 400: ErrorSerializer, **ERRORS},
    )
    def get(self, request: TokenRequest, ws: str) -> Response:
        params = request.query_params.copy()
        params.setlist("q", params.pop("search", []))
        filterset = selectors.imports_for_list(workspace=self.workspace, params=params)
        if not filterset.is_valid():
            errors = {("search" if k == "q" else k): v for k, v in filterset.errors.items()}
            raise exceptions.ValidationError(errors)
        return self.paged(filterset.qs.select_related("created_by"), decorate=self.decorate)


class ImportDetail(ImportViewMixin, WorkspaceAPIView):
    @extend_schema(summary="Get an import", responses={200: ImportSerializer, **ERRORS})
    def get(self, request: TokenRequest, ws: str, pk: Any) -> Response:
        return Response(self.get_serializer(self.get_import(pk)).data)


class ImportRuns(WorkspaceAPIView):
    """An import's runs, newest first; POST starts one now (Run now)."""

    serializer_class = RunSerializer
    pagination_class = NewestFirst
    scopes = {"POST": "run"}

    @extend_schema(
        summary="List an import's runs",
        parameters=[OpenApiParameter("page_size", int, description="1 to 200; default 50.")],
        responses={200: RunSerializer(many=True), **ERRORS},
    )
    def get(self, request: TokenRequest, ws: str, pk: Any) -> Response:
        import_obj = get_in_workspace(Import, self.workspace, pk=pk)
        return self.paged(selectors.import_runs(import_obj=import_obj))

    @extend_schema(
        summary="Run an import now",
        description="Queues a run at once, as Run now on the import's page. The answer is the "
        "queued run, with its URL in Location: poll it until `status` is succeeded, "
        "succeeded_with_rejections, failed or cancelled.",
        request=None,
        responses={
            202: RunSerializer,
            409: OpenApiResponse(ErrorSerializer, description="A run is queued or running."),
            **ERRORS,
        },
    )
    def post(self, request: TokenRequest, ws: str, pk: Any) -> Response:
        import_obj = get_in_workspace(Import, self.workspace, pk=pk)
        try:
            run = services.import_run_now(import_obj=import_obj, actor=request.user)
        except services.IllegalTransition as exc:
            raise ImportRunning(str(exc)) from None
        location = absolute(request, "api:run", ws=ws, run_pk=run.pk)
        return Response(
            self.get_serializer(run).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )


class ImportAction(ImportViewMixin, WorkspaceAPIView):
    """Pause, Resume or Stop, as the buttons on the import's page."""

    scopes = {"POST": "admin"}
    service: Callable[..., Import]

    def post(self, request: TokenRequest, ws: str, pk: Any) -> Response:
        import_obj = get_in_workspace(Import, self.workspace, pk=pk)
        try:
            type(self).service(import_obj=import_obj, actor=request.user)
        except services.IllegalTransition as exc:
            raise IllegalTransition(str(exc)) from None
        return Response(self.get_serializer(self.get_import(pk)).data)


def _action_schema(summary: str, description: str):
    return extend_schema_view(
        post=extend_schema(
            summary=summary,
            description=description,
            request=None,
            responses={200: ImportSerializer, 409: CONFLICT, **ERRORS},
        )
    )


@_action_schema("Pause an import", "Only a scheduled import can be paused.")
class ImportPause(ImportAction):
    service = services.import_pause


@_action_schema("Resume an import", "Only a paused import can be resumed.")
class ImportResume(ImportAction):
    service = services.import_resume


@_action_schema(
    "Stop an import",
    "Ends the schedule; a running run ends as cancelled after the page it is writing.",
)
class ImportStop(ImportAction):
    service = services.import_stop


class RunDetail(WorkspaceAPIView):
    serializer_class = RunSerializer

    @extend_schema(
        summary="Get a run", operation_id="runs_retrieve", responses={200: RunSerializer, **ERRORS}
    )
    def get(self, request: TokenRequest, ws: str, run_pk: Any) -> Response:
        run = get_in_workspace(ImportRun, self.workspace, pk=run_pk)
        return Response(self.get_serializer(run).data)


class RunRejectedRows(WorkspaceAPIView):
    """The run's kept rejected rows as CSV, the same file as the run page's download."""

    @extend_schema(
        summary="Download a run's rejected rows",
        operation_id="runs_rejected_rows_csv",
        parameters=[
            OpenApiParameter(
                "reason",
                str,
                description="Only the rows rejected for this "
                "reason (exactly as the CSV's reason column says it).",
            ),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, streamed."),
            **ERRORS,
        },
    )
    def get(self, request: TokenRequest, ws: str, run_pk: Any):
        run = get_in_workspace(
            ImportRun.objects.select_related("import_obj"), self.workspace, pk=run_pk
        )
        return csv_response(
            exports.rejected_rows_csv(run=run, reason=request.query_params.get("reason") or None),
            filename=f"rejected-rows-{run.pk}.csv",
        )

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # The CSV is a plain streamed response; anything else said here (errors) is JSON,
        # whatever the client's Accept header asked for.
        renderer = JSONRenderer()
        return renderer, renderer.media_type
