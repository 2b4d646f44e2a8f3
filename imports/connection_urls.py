"""The "connections" namespace: connections' own pages, and the ones imports composes for a
connection (imports/views_connections.py). Names and paths are those of connections/urls.py
before the split, so templates and reverse() calls do not change."""

from django.urls import path

from connections import urls as connection_urls
from imports import views_connections as views

app_name = "connections"

urlpatterns = [
    path("", views.connection_list, name="list"),
    *connection_urls.urlpatterns,
    path("<uuid:pk>/", views.connection_detail, name="detail"),
    path("<uuid:pk>/delete/", views.connection_delete, name="delete"),
]
