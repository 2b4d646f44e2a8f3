from django.urls import path

from workspaces import member_views

app_name = "members"

urlpatterns = [
    path("", member_views.members_page, name="page"),
    path("invite/", member_views.member_invite, name="invite"),
    path("<int:member_pk>/role/", member_views.member_role, name="role"),
    path("<int:member_pk>/remove/", member_views.member_remove, name="remove"),
    path(
        "invitations/<uuid:invitation_pk>/revoke/",
        member_views.invitation_revoke,
        name="invitation_revoke",
    ),
]
