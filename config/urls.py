from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.health import healthz
from workspaces.account import PasswordResetView
from workspaces.member_views import invitation_accept, invitation_open
from workspaces.signin import ThrottledLoginView
from workspaces.signout import SignOutView
from workspaces.views import home, settings_overview, workspace_settings

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("signin/", ThrottledLoginView.as_view(), name="login"),
    path("signout/", SignOutView.as_view(), name="logout"),
    path("password/reset/", PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("invitations/accept/", invitation_accept, name="invitation_accept"),
    path("invitations/<str:secret>/", invitation_open, name="invitation_open"),
    path("w/<slug:ws>/settings/", settings_overview, name="settings"),
    path("w/<slug:ws>/settings/workspace/", workspace_settings, name="workspace_settings"),
    path("w/<slug:ws>/settings/members/", include("workspaces.member_urls")),
    path("w/<slug:ws>/settings/partners/bigquery/", include("imports.connection_urls")),
    path("w/<slug:ws>/settings/partners/bigquery/", include("imports.urls")),
    path("w/<slug:ws>/audience/", include("audience.urls")),
    path("w/<slug:ws>/settings/notifications/", include("notifications.urls")),
    path("w/<slug:ws>/audit/", include("workspaces.audit_urls")),
    path("w/<slug:ws>/settings/api-tokens/", include("api.token_urls")),
    path("api/", include("api.urls")),
    path("admin/", admin.site.urls),
]
