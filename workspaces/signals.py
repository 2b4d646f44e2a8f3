"""Signals other apps listen to; workspaces imports none of them (apps depend one way)."""

from django.dispatch import Signal

# Sent inside the transaction that changed a workspace's time zone, with `workspace` (already
# holding the new zone) and `old_time_zone`. Imports move their recurring schedules with it.
time_zone_changed = Signal()

# Sent inside the transaction that removed `user` from `workspace`, with the `actor` who did.
# The API revokes the user's tokens of that workspace.
member_removed = Signal()
