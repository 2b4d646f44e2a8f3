from django.urls import path

from connections import views

app_name = "connections"

urlpatterns = [
    path("", views.connection_list, name="list"),
    path("add/", views.connection_add, name="add"),
    path("ip-addresses/", views.connection_ip_addresses, name="ip_addresses"),
    path("add/test/", views.connection_add_test, name="add_test"),
    path("<uuid:pk>/", views.connection_detail, name="detail"),
    path("<uuid:pk>/edit/", views.connection_edit, name="edit"),
    path("<uuid:pk>/edit/test/", views.connection_edit_test, name="edit_test"),
    path("<uuid:pk>/test/", views.connection_test, name="test"),
    path("<uuid:pk>/delete/", views.connection_delete, name="delete"),
]
