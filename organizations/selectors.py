"""Reading organizations, memberships and invitations.

Which organization a request acts for is decided here, once per request, for the API and the
page alike: the organization the request names (the API's `X-Organization` header, the page's
choice kept in the session), else the user's default membership. Services and views ask
`organization_membership_get(user=...)`; the request's choice travels on the user object
(`organization_choose`), set by the API's authentication and by the page middleware.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from core.errors import ApplicationError
from organizations.errors import InvitationNotFound, MemberNotFound, NoOrganization, OrganizationNotFound
from organizations.models import Invitation, Membership, invitation_token_hash

# The API names the organization a request acts for with this header (its id).
ORGANIZATION_HEADER = "X-Organization"
ORGANIZATION_HEADER_META = "HTTP_X_ORGANIZATION"
# The page keeps the person's choice in the session under this key.
ORGANIZATION_SESSION_KEY = "organization_id"

# Larger ids are not ids (and would overflow the database's bigint).
_MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class _Choice:
    requested: object  # the header's text, or the session's id; None: the default
    strict: bool  # the API's header: a choice that names no organization of the user is an error


@dataclass(frozen=True)
class _Acting:
    membership: Membership | None
    error: ApplicationError | None


def organization_choose(*, user: User, requested: object, strict: bool) -> None:
    """Record which organization this request acts for: `requested` (the `X-Organization`
    header's text with `strict`, the session's id without), None for the user's default.

    With `strict`, anything but the id of an active organization the user belongs to is
    ORG_NOT_FOUND (the same answer for each, so it tells nothing about other organizations);
    without, such a choice (a membership since removed) falls back to the default.
    """
    user._organization_choice = _Choice(requested, strict)  # type: ignore[attr-defined]
    user._organization_acting = None  # type: ignore[attr-defined]


def _organization_id(requested: object) -> int | None:
    if isinstance(requested, int) and not isinstance(requested, bool):
        value = requested
    elif isinstance(requested, str) and requested.isascii() and requested.isdigit():
        value = int(requested)
    else:
        return None
    return value if 0 < value <= _MAX_ID else None


def user_memberships_queryset(*, user: User) -> QuerySet[Membership]:
    """Every membership of the user with its organization, oldest first. A caller that needs
    more of each (billing's access) annotates it and hands the rows to `memberships_remember`."""
    return (
        Membership.objects.select_related("organization").filter(user_id=user.pk).order_by("created_at", "pk")
    )


def memberships_remember(*, user: User, memberships: Sequence[Membership]) -> None:
    """Keep the user's memberships (`user_memberships_queryset`'s rows) for the rest of the
    request: choosing the organization then costs no query."""
    user._organization_memberships = list(memberships)  # type: ignore[attr-defined]
    user._organization_acting = None  # type: ignore[attr-defined]


def _memberships(user: User) -> list[Membership]:
    """Every membership of the user with its organization, oldest first (one query, kept on the
    user for the rest of the request: the page's switcher lists them too)."""
    cached: list[Membership] | None = getattr(user, "_organization_memberships", None)
    if cached is None:
        cached = list(user_memberships_queryset(user=user))
        memberships_remember(user=user, memberships=cached)
    return cached


def _default_membership(user: User) -> Membership | None:
    """The default membership: as the API's authentication loaded it, else from the list."""
    loaded: Membership | None = getattr(user, "default_membership", None)
    if loaded is not None and getattr(user, "_organization_memberships", None) is None:
        return loaded
    memberships = _memberships(user)
    # A user's memberships have one default; should it have gone (removed in the admin), the
    # oldest membership stands in.
    return next((m for m in memberships if m.is_default), memberships[0] if memberships else None)


def _resolve(user: User) -> _Acting:
    acting: _Acting | None = getattr(user, "_organization_acting", None)
    if acting is not None:
        return acting
    choice: _Choice = getattr(user, "_organization_choice", None) or _Choice(None, strict=False)
    if choice.requested is not None:
        organization_id = _organization_id(choice.requested)
        found = None
        if organization_id is not None:
            if choice.strict and getattr(user, "_organization_memberships", None) is None:
                found = (
                    Membership.objects.select_related("organization")
                    .filter(user_id=user.pk, organization_id=organization_id, organization__is_active=True)
                    .first()
                )
            else:
                found = next(
                    (
                        m
                        for m in _memberships(user)
                        if m.organization_id == organization_id and m.organization.is_active
                    ),
                    None,
                )
        if found is not None:
            acting = _Acting(found, None)
        elif choice.strict:
            acting = _Acting(None, OrganizationNotFound())
    if acting is None:
        default = _default_membership(user)
        if default is None:
            acting = _Acting(None, NoOrganization())
        elif not default.organization.is_active:
            acting = _Acting(default, OrganizationNotFound())
        else:
            acting = _Acting(default, None)
    user._organization_acting = acting  # type: ignore[attr-defined]
    return acting


def membership_for_user(*, user: User) -> Membership | None:
    """The membership this request acts through, with its organization (an inactive one
    included), or None: no membership, or a header that names none of the user's."""
    return _resolve(user).membership


def organization_membership_get(*, user: User) -> Membership:
    """The membership of the active organization this request acts for, or the error why not:
    NO_ORGANIZATION (no membership), ORG_NOT_FOUND (a header naming none of the user's active
    organizations, or the default one inactive). Never calls Stripe."""
    acting = _resolve(user)
    if acting.error is not None:
        raise acting.error
    assert acting.membership is not None
    return acting.membership


def organization_choice_check(*, user: User) -> None:
    """For the paths that need no organization (listing and creating organizations, accepting
    an invitation): a header that names none of the user's active organizations is still
    ORG_NOT_FOUND; no header is fine."""
    choice: _Choice | None = getattr(user, "_organization_choice", None)
    if choice is not None and choice.strict and choice.requested is not None:
        organization_membership_get(user=user)


def memberships_active(*, user: User) -> list[Membership]:
    """The user's memberships of active organizations (organization loaded), oldest first:
    `GET /organizations` and the page's switcher."""
    return [m for m in _memberships(user) if m.organization.is_active]


def members_list(*, organization_id: int) -> QuerySet[Membership]:
    """An organization's members with their users, oldest first."""
    return (
        Membership.objects.select_related("user")
        .filter(organization_id=organization_id)
        .order_by("created_at", "pk")
    )


def member_count(*, organization_id: int) -> int:
    """How many members the organization has (its seats; pending invitations are not)."""
    return Membership.objects.filter(organization_id=organization_id).count()


def invitations_pending_count(*, organization_id: int) -> int:
    """How many of the organization's invitations are pending (not accepted, revoked or expired)."""
    return Invitation.objects.filter(
        organization_id=organization_id, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
    ).count()


def member_get(*, organization_id: int, membership_id: object) -> Membership:
    """One membership of the organization (user loaded), or MEMBER_NOT_FOUND."""
    pk = _organization_id(membership_id)
    found = (
        Membership.objects.select_related("user", "organization")
        .filter(organization_id=organization_id, pk=pk)
        .first()
        if pk is not None
        else None
    )
    if found is None:
        raise MemberNotFound()
    return found


def invitations_pending(*, organization_id: int) -> QuerySet[Invitation]:
    """An organization's pending invitations (not accepted, revoked or expired), newest first."""
    return (
        Invitation.objects.select_related("invited_by")
        .filter(
            organization_id=organization_id, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
        )
        .order_by("-created_at", "-pk")
    )


def invitation_get(*, organization_id: int, invitation_id: object) -> Invitation:
    """One pending invitation of the organization, or INVITATION_NOT_FOUND."""
    pk = _organization_id(invitation_id)
    found = (
        invitations_pending(organization_id=organization_id).filter(pk=pk).first() if pk is not None else None
    )
    if found is None:
        raise InvitationNotFound()
    return found


def invitation_by_token(*, token: str) -> Invitation | None:
    """The pending invitation this link's token names (organization loaded), or None."""
    if not token or len(token) > 200:
        return None
    return (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(
            token_hash=invitation_token_hash(token),
            accepted_at=None,
            revoked_at=None,
            expires_at__gt=timezone.now(),
            organization__is_active=True,
        )
        .first()
    )
