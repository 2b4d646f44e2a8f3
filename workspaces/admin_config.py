from django.contrib.admin.apps import AdminConfig


class BrakedAdminConfig(AdminConfig):
    """django.contrib.admin with its site replaced (Django's documented way): the admin's
    login goes through the sign-in brake. Its own module: app configs load before models."""

    default_site = "workspaces.signin.BrakedAdminSite"
