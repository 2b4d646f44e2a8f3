from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.health import healthz
from workspaces.signin import ThrottledLoginView
from workspaces.views import home, workspace_settings

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("signin/", ThrottledLoginView.as_view(), name="login"),
    path("signout/", auth_views.LogoutView.as_view(), name="logout"),
    path("w/<slug:ws>/settings/workspace/", workspace_settings, name="workspace_settings"),
    path("w/<slug:ws>/settings/partners/bigquery/", include("imports.connection_urls")),
    path("w/<slug:ws>/settings/partners/bigquery/", include("imports.urls")),
    path("w/<slug:ws>/audience/", include("audience.urls")),
    path("w/<slug:ws>/settings/notifications/", include("notifications.urls")),
    path("w/<slug:ws>/audit/", include("workspaces.audit_urls")),
    path("w/<slug:ws>/settings/api-tokens/", include("api.token_urls")),
    path("api/", include("api.urls")),
    path("admin/", admin.site.urls),
]
