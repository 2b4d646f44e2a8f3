from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.health import healthz
from workspaces.signin import ThrottledLoginView, admin_login
from workspaces.views import home

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("signin/", ThrottledLoginView.as_view(), name="login"),
    path("signout/", auth_views.LogoutView.as_view(), name="logout"),
    path("w/<slug:ws>/settings/partners/bigquery/", include("connections.urls")),
    path("w/<slug:ws>/settings/partners/bigquery/", include("imports.urls")),
    path("w/<slug:ws>/audience/", include("audience.urls")),
    path("w/<slug:ws>/audit/", include("workspaces.audit_urls")),
    path("w/<slug:ws>/settings/api-tokens/", include("api.token_urls")),
    path("api/", include("api.urls")),
    path(
        "admin/",
        include(
            [
                # Matched before the admin's own login: the same brake as /signin/.
                path("login/", admin_login, name="admin_login"),
                path("", admin.site.urls),
            ]
        ),
    ),
]
