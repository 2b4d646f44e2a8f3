from django.urls import path, register_converter

from imports import views, views_create, views_edit

app_name = "imports"


class ImportActionConverter:
    """Only the action names a POST may carry, so other `<pk>/<word>/` routes stay free."""

    regex = "run-now|pause|resume"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ImportActionConverter, "import_action")

urlpatterns = [
    path("imports/", views.import_list, name="list"),
    path("imports/new/", views_create.create_pick, name="create_pick"),
    path("imports/<uuid:pk>/", views.import_detail, name="detail"),
    path("imports/<uuid:pk>/progress/", views.import_progress, name="progress"),
    path("imports/<uuid:pk>/delete/", views.import_delete, name="delete"),
    path("imports/<uuid:pk>/edit/", views_edit.import_edit, name="edit"),
    path("imports/<uuid:pk>/stop/", views.import_stop, name="stop"),
    path("imports/<uuid:pk>/reimport/", views.import_reimport, name="reimport"),
    path("imports/<uuid:pk>/duplicate/", views_create.import_duplicate, name="duplicate"),
    path("imports/<uuid:pk>/<import_action:action>/", views.import_action, name="action"),
    path("imports/runs/<uuid:run_pk>/", views.run_detail, name="run"),
    path("imports/runs/<uuid:run_pk>/rejected.csv", views.rejected_csv, name="rejected_csv"),
]

# Create Import, under the connection it reads from.
_new = "<uuid:connection_pk>/imports/new/"
urlpatterns += [
    path(_new, views_create.create_source, name="create"),
    path(f"{_new}tables/", views_create.create_tables, name="create_tables"),
    path(f"{_new}preview/", views_create.create_preview, name="create_preview"),
    path(f"{_new}check-query/", views_create.create_check_query, name="create_check_query"),
    path(
        f"{_new}schedule-preview/",
        views_create.create_schedule_preview,
        name="create_schedule_preview",
    ),
    path(f"{_new}<uuid:draft>/source/", views_create.create_source, name="create_source"),
    path(f"{_new}<uuid:draft>/target/", views_create.create_target, name="create_target"),
    path(f"{_new}<uuid:draft>/sync/", views_create.create_sync, name="create_sync"),
    path(f"{_new}<uuid:draft>/schedule/", views_create.create_schedule, name="create_schedule"),
    path(f"{_new}<uuid:draft>/review/", views_create.create_review, name="create_review"),
    path(
        f"{_new}<uuid:draft>/review/sample/",
        views_create.create_review_sample,
        name="create_review_sample",
    ),
]
