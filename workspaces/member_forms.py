"""Forms of the Members page: an invitation by email, and a member's role."""

from django import forms

from workspaces.models import Membership
from workspaces.services import ACCOUNT_ADDRESS_MAX_LENGTH

ROLE_HELP = {
    "admin": "Changes connections, imports, notifications and members.",
    "member": "Views everything and creates read-only API tokens.",
}


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        max_length=ACCOUNT_ADDRESS_MAX_LENGTH,  # accepting makes an account named by it
        error_messages={
            "required": "Enter the email address to invite.",
            "invalid": "Enter a valid email address, such as name@example.com.",
            "max_length": "Enter an email address of at most %(limit_value)d characters: the "
            "invitee's account is named by it.",
        },
    )
    role = forms.ChoiceField(
        label="Role",
        choices=Membership.Role.choices,
        initial=Membership.Role.MEMBER,
        error_messages={"invalid_choice": "Choose Admin or Member."},
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(
        label="Role",
        choices=Membership.Role.choices,
        error_messages={
            "required": "Choose Admin or Member.",
            "invalid_choice": "Choose Admin or Member.",
        },
    )
