"""Connections' own pages. imports/connection_urls.py serves them in the "connections"
namespace together with the connection pages that show imports (list, detail, delete)."""

from django.urls import path

from connections import views

urlpatterns = [
    path("add/", views.connection_add, name="add"),
    path("ip-addresses/", views.connection_ip_addresses, name="ip_addresses"),
    path("add/test/", views.connection_add_test, name="add_test"),
    path("<uuid:pk>/edit/", views.connection_edit, name="edit"),
    path("<uuid:pk>/edit/test/", views.connection_edit_test, name="edit_test"),
    path("<uuid:pk>/test/", views.connection_test, name="test"),
]
