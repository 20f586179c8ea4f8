"""What other apps hang on the organizations' changes, without this app importing them
(imports run one way: organizations <- billing). Billing registers its hooks in its
`AppConfig.ready`.

- `members_changed`: called after the transaction that changed an organization's member count
  commits (an invitation accepted, a member removed, one leaving), with the organization's id.
- `member_limit_check`: called under the organization's lock before an invitation is made,
  with the organization and how many seats it would then hold (members plus pending
  invitations); it raises `MemberLimitReached` to refuse. It must not wait on the network (a
  lock is held): what it needs from afar is read by `before_invite`, called first, outside
  any transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from organizations.models import Organization

logger = logging.getLogger(__name__)

MembersChanged = Callable[[int], None]
MemberLimitCheck = Callable[[Organization, int], None]
BeforeInvite = Callable[[int], None]

_members_changed: list[MembersChanged] = []
_member_limit_checks: list[MemberLimitCheck] = []
_before_invite: list[BeforeInvite] = []


def on_members_changed(hook: MembersChanged) -> None:
    if hook not in _members_changed:
        _members_changed.append(hook)


def on_member_limit_check(hook: MemberLimitCheck) -> None:
    if hook not in _member_limit_checks:
        _member_limit_checks.append(hook)


def on_before_invite(hook: BeforeInvite) -> None:
    if hook not in _before_invite:
        _before_invite.append(hook)


def before_invite(*, organization_id: int) -> None:
    """Outside any transaction, before an invitation's checks."""
    for hook in _before_invite:
        hook(organization_id)


def _members_changed_now(organization_id: int) -> None:
    for hook in _members_changed:
        try:
            hook(organization_id)
        except Exception:
            # The member change itself has committed; the hook's own work is retried by the
            # next change (or the sync). Logged, never raised into the member's request.
            logger.exception(
                "organizations.members_changed_hook_failed", extra={"organization_id": organization_id}
            )


def members_changed(*, organization_id: int) -> None:
    """The member count changed: run the hooks once the current transaction commits."""
    transaction.on_commit(lambda: _members_changed_now(organization_id))


def member_limit_check(*, organization: Organization, seats: int) -> None:
    for hook in _member_limit_checks:
        hook(organization, seats)
