"""Organizations, members and invitations: every write, with the role rules enforced here.

The API and the members page both call these, so a rule holds whichever face is used:

- owners and admins manage members; an admin cannot change or remove an owner, nor make
  anyone an owner; anyone may leave, and set their own default organization;
- an organization keeps at least one owner (LAST_OWNER), checked after the permission;
- inviting, accepting, role changes and removals count toward MEMBERS_RATE (per user), after
  the permission checks (a refused request does not count);
- each change is audited (who, whom, what, when).

Concurrency: changes to an organization's members run under a lock on the organization's row
(`select_for_update`; on SQLite the write transaction is the lock), and re-read what they
check under it, so two owners removing each other leave one, and an invitation is consumed
under a lock on its own row, so concurrent accepts make one membership.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core import ratelimit
from organizations import hooks
from organizations.errors import (
    AlreadyMember,
    InvitationEmailMismatch,
    InvitationInvalid,
    InvitationNotFound,
    LastOwner,
    MemberNotFound,
    MemberPermissionDenied,
    MembersRateLimited,
    OrganizationRequestInvalid,
)
from organizations.models import (
    Invitation,
    MemberAuditEntry,
    Membership,
    Organization,
    invitation_expiry,
    invitation_token_hash,
)
from organizations.selectors import invitation_by_token as invitation_pending_by_token
from organizations.selectors import invitation_get, invitations_pending_count, member_count, member_get

logger = logging.getLogger(__name__)

Role = Membership.Role
ROLE_VALUES = frozenset(str(r) for r in Role)


# --- Shared rules ----------------------------------------------------------------------------


def members_rate_counted(*, user: User, action: str) -> None:
    """Count one change to members by `user` toward MEMBERS_RATE, or RATE_LIMITED."""
    retry_after = ratelimit.hit(key=f"members:user:{user.pk}", rate=settings.MEMBERS_RATE)
    if retry_after is not None:
        logger.info("organizations.members_rate_limited", extra={"user_id": user.pk, "action": action})
        raise MembersRateLimited(retry_after=retry_after)


def _audit(
    *, organization_id: int, actor: User | None, action: str, subject_email: str = "", detail: str = ""
) -> None:
    MemberAuditEntry.objects.create(
        organization_id=organization_id,
        actor=actor,
        action=action,
        subject_email=subject_email,
        detail=detail,
    )


def _role(value: object) -> str:
    if not isinstance(value, str) or value not in ROLE_VALUES:
        raise OrganizationRequestInvalid("`role` must be one of owner, admin, billing, member")
    return value


def _lock_organization(organization_id: int) -> Organization:
    return Organization.objects.select_for_update().get(pk=organization_id)


def _relock(membership: Membership) -> Membership:
    """The membership as it stands now, under the organization's lock (MEMBER_NOT_FOUND if it
    went meanwhile)."""
    found = Membership.objects.select_related("user").filter(pk=membership.pk).first()
    if found is None:
        raise MemberNotFound()
    return found


def _owners(organization_id: int) -> int:
    return Membership.objects.filter(organization_id=organization_id, role=Role.OWNER).count()


def _may_touch(*, actor: Membership, target: Membership, new_role: str | None = None) -> None:
    """Permission to change or remove another member (not to leave, nor to set one's default)."""
    if not actor.can_manage_members:
        raise MemberPermissionDenied()
    if actor.role != Role.OWNER and (target.role == Role.OWNER or new_role == Role.OWNER):
        raise MemberPermissionDenied("Only an owner may change an owner or make someone an owner")


# --- Organizations ---------------------------------------------------------------------------


def organization_create(*, user: User, name: object) -> Membership:
    """A new organization with `user` as its owner (their default if it is their first)."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        raise OrganizationRequestInvalid("`name` must be a non-empty string of at most 200 characters")
    with transaction.atomic():
        organization = Organization.objects.create(name=name.strip(), billing_email=user.email)
        # The first membership becomes the default (Membership.save).
        membership = Membership.objects.create(user=user, organization=organization, role=Role.OWNER)
        _audit(organization_id=organization.pk, actor=user, action=MemberAuditEntry.Action.CREATED)
    logger.info("organizations.created", extra={"organization_id": organization.pk, "user_id": user.pk})
    return membership


def default_membership_set(*, user: User, membership_id: int) -> Membership:
    """Make one of the user's memberships their default (the others lose it)."""
    with transaction.atomic():
        mine = list(Membership.objects.select_for_update().filter(user_id=user.pk).order_by("pk"))
        target = next((m for m in mine if m.pk == membership_id), None)
        if target is None:
            raise MemberNotFound()
        # Clear first: the partial unique constraint allows one default at a time.
        Membership.objects.filter(user_id=user.pk, is_default=True).exclude(pk=target.pk).update(
            is_default=False
        )
        if not target.is_default:
            Membership.objects.filter(pk=target.pk).update(is_default=True)
            target.is_default = True
    return target


# --- Members ---------------------------------------------------------------------------------


def member_update(
    *, actor: Membership, membership_id: object, role: object = None, is_default: object = None
) -> Membership:
    """PATCH a member: a new `role` (owners and admins, with the rules above), and/or
    `is_default=True` on one's own membership."""
    if role is None and is_default is None:
        raise OrganizationRequestInvalid("Send `role` or `isDefault`")
    if is_default is not None and is_default is not True:
        raise OrganizationRequestInvalid("`isDefault` can only be set to true")
    new_role = _role(role) if role is not None else None
    target = member_get(organization_id=actor.organization_id, membership_id=membership_id)
    if is_default is not None and target.user_id != actor.user_id:
        raise MemberPermissionDenied("Only the member themselves may choose their default organization")
    if new_role is not None:
        _may_touch(actor=actor, target=target, new_role=new_role)
    members_rate_counted(user=actor.user, action="member_update")
    if new_role is not None and new_role != target.role:
        with transaction.atomic():
            _lock_organization(actor.organization_id)
            current_actor = _relock(actor)
            target = _relock(target)
            _may_touch(actor=current_actor, target=target, new_role=new_role)
            if target.role == Role.OWNER and new_role != Role.OWNER and _owners(actor.organization_id) <= 1:
                raise LastOwner()
            before = target.role
            Membership.objects.filter(pk=target.pk).update(role=new_role)
            target.role = new_role
            _audit(
                organization_id=actor.organization_id,
                actor=actor.user,
                action=MemberAuditEntry.Action.ROLE_CHANGED,
                subject_email=target.user.email,
                detail=f"{before} -> {new_role}",
            )
    if is_default:
        target.is_default = default_membership_set(user=actor.user, membership_id=target.pk).is_default
    return target


def member_remove(*, actor: Membership, membership_id: object) -> None:
    """DELETE a member: owners and admins remove others (an admin no owner), anyone leaves.
    The last owner can neither leave nor be removed. Leaving one's default organization makes
    the oldest remaining membership the default."""
    target = member_get(organization_id=actor.organization_id, membership_id=membership_id)
    leaving = target.user_id == actor.user_id
    if not leaving:
        _may_touch(actor=actor, target=target)
    members_rate_counted(user=actor.user, action="member_leave" if leaving else "member_remove")
    with transaction.atomic():
        _lock_organization(actor.organization_id)
        # Re-read under the lock: another owner may have removed this one, or changed a role.
        current_actor = _relock(actor)
        target = _relock(target)
        if not leaving:
            _may_touch(actor=current_actor, target=target)
        if target.role == Role.OWNER and _owners(actor.organization_id) <= 1:
            raise LastOwner()
        target.delete()
        if target.is_default:
            oldest = Membership.objects.filter(user_id=target.user_id).order_by("created_at", "pk").first()
            if oldest is not None:
                Membership.objects.filter(pk=oldest.pk).update(is_default=True)
        _audit(
            organization_id=actor.organization_id,
            actor=actor.user,
            action=MemberAuditEntry.Action.LEFT if leaving else MemberAuditEntry.Action.REMOVED,
            subject_email=target.user.email,
            detail=f"role {target.role}",
        )
        hooks.members_changed(organization_id=actor.organization_id)


# --- Invitations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationResult:
    invitation: Invitation
    created: bool  # False: a pending invitation of the same e-mail, re-sent with a fresh link


def _may_invite(*, actor: Membership, role: str | None = None) -> None:
    if not actor.can_manage_members:
        raise MemberPermissionDenied()
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise MemberPermissionDenied("Only an owner may invite an owner")


def invitations_visible_check(*, actor: Membership) -> None:
    """Reading the pending invitations is for owners and admins."""
    _may_invite(actor=actor)


def invitation_create(*, actor: Membership, email: object, role: object) -> InvitationResult:
    """Invite `email` with `role`, and e-mail the link. The same e-mail (case-insensitive)
    while an invitation is pending: that invitation, re-sent with a fresh link (the earlier
    link stops working)."""
    if not isinstance(email, str):
        raise OrganizationRequestInvalid("`email` must be an e-mail address")
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError as e:
        raise OrganizationRequestInvalid("`email` must be an e-mail address") from e
    new_role = _role(role if role is not None else Role.MEMBER)
    _may_invite(actor=actor, role=new_role)
    members_rate_counted(user=actor.user, action="invite")
    organization_id = actor.organization_id
    hooks.before_invite(organization_id=organization_id)
    with transaction.atomic():
        organization = _lock_organization(organization_id)
        if Membership.objects.filter(organization_id=organization_id, user__email__iexact=email).exists():
            raise AlreadyMember()
        pending = (
            Invitation.objects.filter(
                organization_id=organization_id,
                email__iexact=email,
                accepted_at=None,
                revoked_at=None,
                expires_at__gt=timezone.now(),
            )
            .order_by("-created_at")
            .first()
        )
        if pending is None:
            # A new invitation holds a seat until it is accepted, revoked or expired.
            hooks.member_limit_check(
                organization=organization,
                seats=member_count(organization_id=organization_id)
                + invitations_pending_count(organization_id=organization_id)
                + 1,
            )
        if pending is not None:
            invitation, created = pending, False
            fields = ["expires_at", "invited_by"]
            pending.expires_at = invitation_expiry()  # type: ignore[assignment]
            pending.invited_by = actor.user
            if pending.role != new_role:
                pending.role = new_role
                fields.append("role")
            pending.save(update_fields=fields)
        else:
            invitation = Invitation.objects.create(
                organization_id=organization_id, email=email, role=new_role, invited_by=actor.user
            )
            created = True
        _audit(
            organization_id=organization_id,
            actor=actor.user,
            action=MemberAuditEntry.Action.INVITED if created else MemberAuditEntry.Action.INVITATION_RESENT,
            subject_email=email,
            detail=f"role {new_role}",
        )
        # Sent by the worker; with the queue in the database the task commits with the invitation.
        _invitation_email_enqueue(invitation_id=invitation.pk)
    invitation.refresh_from_db()
    return InvitationResult(invitation=invitation, created=created)


def _invitation_email_enqueue(*, invitation_id: int) -> None:
    from organizations.tasks import invitation_email_send  # the task module imports this one

    invitation_email_send.enqueue(invitation_id=invitation_id)


def invitation_link_issue(*, invitation_id: int) -> str | None:
    """A fresh link for a pending invitation (the earlier one stops working), or None when it
    is no longer pending. The token is random (256 bits) and only its hash is stored: the link
    exists only in what this returns."""
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        updated = Invitation.objects.filter(
            pk=invitation_id, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
        ).update(token_hash=invitation_token_hash(token))
    if not updated:
        return None
    return f"{settings.SITE_URL}/invitations/{token}/"


def invitation_send(*, invitation_id: int) -> bool:
    """E-mail a pending invitation with a fresh link (made here, when it is sent: nothing
    queued or stored carries the token). False when it is no longer pending."""
    link = invitation_link_issue(invitation_id=invitation_id)
    if link is None:
        return False
    invitation = Invitation.objects.select_related("organization", "invited_by").get(pk=invitation_id)
    inviter = invitation.invited_by.email if invitation.invited_by else "A member"
    organization = invitation.organization.name
    send_mail(
        subject=f"You are invited to join {organization}",
        message=(
            f"{inviter} invited you to join {organization} as {invitation.get_role_display().lower()}.\n\n"
            f"Accept the invitation (log in, or create an account with this e-mail address):\n{link}\n\n"
            f"The link works once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC.\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )
    # The event names the invitation only: its e-mail address and link stay out of the logs.
    logger.info("organizations.invitation_sent", extra={"invitation_id": invitation.pk})
    return True


def invitation_revoke(*, actor: Membership, invitation_id: object) -> None:
    """Withdraw a pending invitation: its link stops working."""
    invitation = invitation_get(organization_id=actor.organization_id, invitation_id=invitation_id)
    _may_invite(actor=actor)
    with transaction.atomic():
        updated = Invitation.objects.filter(pk=invitation.pk, accepted_at=None, revoked_at=None).update(
            revoked_at=timezone.now(), token_hash=None
        )
        if updated:
            _audit(
                organization_id=actor.organization_id,
                actor=actor.user,
                action=MemberAuditEntry.Action.INVITATION_REVOKED,
                subject_email=invitation.email,
            )


def invitation_accept(*, user: User, token: str) -> Membership:
    """Join the organization whose pending invitation `token` names, as the invited e-mail
    (case-insensitive). Any token that names no pending invitation: INVITATION_INVALID."""
    members_rate_counted(user=user, action="accept")
    with transaction.atomic():
        # Locked: of concurrent accepts of one invitation, the first consumes it and the
        # others find it used (PostgreSQL re-reads the row once the lock is released).
        invitation = (
            Invitation.objects.select_for_update()
            .filter(
                token_hash=invitation_token_hash(token),
                accepted_at=None,
                revoked_at=None,
                expires_at__gt=timezone.now(),
                organization__is_active=True,
            )
            .first()
            if token and len(token) <= 200
            else None
        )
        if invitation is None:
            raise InvitationInvalid()
        if invitation.email.lower() != user.email.lower():
            raise InvitationEmailMismatch()
        membership = Membership.objects.filter(
            user_id=user.pk, organization_id=invitation.organization_id
        ).first()
        if membership is None:
            membership = Membership.objects.create(
                user=user, organization_id=invitation.organization_id, role=invitation.role
            )
            hooks.members_changed(organization_id=invitation.organization_id)
        invitation.accepted_at = timezone.now()
        invitation.token_hash = None
        invitation.save(update_fields=["accepted_at", "token_hash"])
        _audit(
            organization_id=invitation.organization_id,
            actor=user,
            action=MemberAuditEntry.Action.JOINED,
            subject_email=user.email,
            detail=f"role {membership.role}",
        )
    logger.info(
        "organizations.invitation_accepted",
        extra={
            "invitation_id": invitation.pk,
            "organization_id": invitation.organization_id,
            "user_id": user.pk,
        },
    )
    return Membership.objects.select_related("user", "organization").get(pk=membership.pk)


# --- Sign-up ---------------------------------------------------------------------------------


def signup_with_organization(*, email: str, password: str, organization_name: str) -> Membership:
    """A new account and its first organization, of which it is the owner."""
    with transaction.atomic():
        user = User.objects.create_user(email=email, password=password)
        return organization_create(user=user, name=organization_name)


def signup_and_accept(*, token: str, password: str) -> Membership:
    """A new account for the invited e-mail, joined to the invitation's organization in one
    step (nothing is created when the invitation is no longer pending)."""
    with transaction.atomic():
        invitation = invitation_pending_by_token(token=token)
        if invitation is None:
            raise InvitationInvalid()
        user = User.objects.create_user(email=invitation.email, password=password)
        return invitation_accept(user=user, token=token)


def invitation_link_refresh(*, actor: Membership, invitation_id: object) -> str:
    """A fresh link for one of the organization's pending invitations, for the members page to
    show (so a person can join without e-mail); the link sent before stops working."""
    invitation = invitation_get(organization_id=actor.organization_id, invitation_id=invitation_id)
    _may_invite(actor=actor)
    link = invitation_link_issue(invitation_id=invitation.pk)
    if link is None:
        raise InvitationNotFound()
    _audit(
        organization_id=actor.organization_id,
        actor=actor.user,
        action=MemberAuditEntry.Action.INVITATION_RESENT,
        subject_email=invitation.email,
        detail="fresh link on the members page",
    )
    return link


# --- The demo --------------------------------------------------------------------------------


@transaction.atomic
def demo_data_ensure(*, password: str) -> list[tuple[str, str]]:
    """Idempotent demo data: one organization with an owner and a member, a second
    organization of the same owner (so the page's switcher shows), and a staff login for the
    admin.

    Returns `(email, role)` of each demo login. Running it again resets the demo passwords
    and roles, and creates nothing twice.
    """
    organization, _ = Organization.objects.get_or_create(
        name="Demo Organization", defaults={"billing_email": "billing@demo.example.com"}
    )
    second, _ = Organization.objects.get_or_create(
        name="Demo Agency", defaults={"billing_email": "billing@agency.example.com"}
    )
    logins = [
        ("owner@demo.example.com", Membership.Role.OWNER),
        ("member@demo.example.com", Membership.Role.MEMBER),
    ]
    for email, role in logins:
        user = User.objects.filter(email=email).first() or User.objects.create_user(email=email)
        user.set_password(password)
        user.is_active = True
        user.save()
        Membership.objects.update_or_create(user=user, organization=organization, defaults={"role": role})
        if role == Membership.Role.OWNER:
            Membership.objects.update_or_create(user=user, organization=second, defaults={"role": role})
    staff = User.objects.filter(email="admin@demo.example.com").first() or User.objects.create_superuser(
        email="admin@demo.example.com"
    )
    staff.set_password(password)
    staff.is_active = staff.is_staff = staff.is_superuser = True
    staff.save()
    return [(email, str(role)) for email, role in logins] + [(staff.email, "staff")]
