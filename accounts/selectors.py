"""Reading users."""

from __future__ import annotations

from typing import Any

from django.db.models import FilteredRelation, Q

from accounts.models import User
from core.queries import CompiledQuery

# Every authenticated API request loads the user with its default membership and that
# membership's organization: one query (a user has at most one default membership, so the
# filtered join adds no rows), compiled once (core.queries) rather than on every request.
_USER_WITH_MEMBERSHIP: CompiledQuery[User] = CompiledQuery(
    lambda pk: (
        User.objects.annotate(
            default_membership=FilteredRelation("memberships", condition=Q(memberships__is_default=True))
        )
        .select_related("default_membership__organization")  # type: ignore[misc]
        .filter(pk=pk)
    )
)


def user_with_membership_get(*, user_id: Any) -> User | None:
    """The user with `default_membership` (None without one) and its `organization` loaded (one
    query), or None.

    `user_id` is converted as the ORM would (a ValueError or TypeError for one that is not a
    user's primary key).
    """
    pk = User._meta.pk.get_prep_value(user_id)  # type: ignore[union-attr]
    user = _USER_WITH_MEMBERSHIP.first(pk)
    if user is not None and not hasattr(user, "default_membership"):
        user.default_membership = None  # type: ignore[attr-defined]  # loaded: the user has no membership
    return user
