from django.urls import path

from api import token_views

app_name = "api_tokens"

urlpatterns = [
    path("", token_views.token_list, name="list"),
    path("<uuid:token_pk>/revoke/", token_views.token_revoke, name="revoke"),
]
