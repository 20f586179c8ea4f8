"""Reading users."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from core.queries import CompiledQuery

# Every authenticated API request loads the user with its membership and organization: one
# query, compiled once (core.queries) rather than on every request.
_USER_WITH_MEMBERSHIP: CompiledQuery[User] = CompiledQuery(
    lambda pk: User.objects.select_related("membership__organization").filter(pk=pk)
)


def user_with_membership_get(*, user_id: Any) -> User | None:
    """The user with `membership` and its `organization` loaded (one query), or None.

    `user_id` is converted as the ORM would (a ValueError or TypeError for one that is not a
    user's primary key).
    """
    pk = User._meta.pk.get_prep_value(user_id)  # type: ignore[union-attr]
    return _USER_WITH_MEMBERSHIP.first(pk)
