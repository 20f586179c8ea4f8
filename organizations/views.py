"""The pages of teams: the members page, the invitation page, sign-up, and the header's
organization switcher. Thin: the same services as the API decide, and their errors become a
message on the page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import LoginForm, SignupForm
from accounts.models import User
from core.errors import ApplicationError
from organizations import selectors, services
from organizations.forms import OrganizationSignupForm
from organizations.models import Membership

MEMBERS_PAGE = "organizations:members"
AUTH_BACKEND = "accounts.backends.RateLimitedModelBackend"


class _Redirect303(HttpResponseRedirect):
    status_code = 303


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        target = fallback
    return _Redirect303(target)


def _acting(request: HttpRequest) -> Membership | None:
    """The membership the page acts through, or None (the billing page says why)."""
    try:
        return selectors.organization_membership_get(user=request.user)  # type: ignore[arg-type]
    except ApplicationError:
        return None


# --- The header's switcher -------------------------------------------------------------------


@require_POST
@login_required
def organization_switch(request: HttpRequest) -> HttpResponse:
    """Keep the chosen organization in the session (one of the person's active ones)."""
    chosen = request.POST.get("organization", "")
    found = next(
        (m for m in selectors.memberships_active(user=request.user) if str(m.organization_id) == chosen),  # type: ignore[arg-type]
        None,
    )
    if found is None:
        messages.error(request, "That organization is not one of yours.")
    else:
        request.session[selectors.ORGANIZATION_SESSION_KEY] = found.organization_id
        messages.success(request, f"You are now working in {found.organization.name}.")
    return _back(request, reverse("billing:page"))


# --- The members page ------------------------------------------------------------------------


def _members_page(request: HttpRequest, actor: Membership, **extra: Any) -> HttpResponse:
    members = list(selectors.members_list(organization_id=actor.organization_id))
    manages = actor.can_manage_members
    invitations = (
        list(selectors.invitations_pending(organization_id=actor.organization_id)) if manages else []
    )
    roles = [
        (value, label)
        for value, label in Membership.Role.choices
        if actor.role == Membership.Role.OWNER or value != Membership.Role.OWNER
    ]
    context = {
        "organization": actor.organization,
        "membership": actor,
        "members": members,
        "invitations": invitations,
        "manages": manages,
        "is_owner": actor.role == Membership.Role.OWNER,
        "roles": roles,
        **extra,
    }
    return render(request, "organizations/members.html", context, status=extra.pop("status", 200))


@never_cache
@require_http_methods(["GET", "HEAD"])
@login_required
def members_page(request: HttpRequest) -> HttpResponse:
    actor = _acting(request)
    if actor is None:
        return HttpResponseRedirect(reverse("billing:page"))
    return _members_page(request, actor)


def _member_action(request: HttpRequest, action: Callable[[Membership], str | None]) -> HttpResponse:
    actor = _acting(request)
    if actor is None:
        return _Redirect303(reverse("billing:page"))
    try:
        done = action(actor)
    except ApplicationError as e:
        messages.error(request, e.message)
    else:
        if done:
            messages.success(request, done)
    return _Redirect303(reverse(MEMBERS_PAGE))


@require_POST
@login_required
def member_invite(request: HttpRequest) -> HttpResponse:
    def invite(actor: Membership) -> str:
        result = services.invitation_create(
            actor=actor, email=request.POST.get("email", ""), role=request.POST.get("role") or "member"
        )
        verb = "sent" if result.created else "sent again with a fresh link"
        return f"Invitation {verb} to {result.invitation.email}."

    return _member_action(request, invite)


@require_POST
@login_required
def member_role(request: HttpRequest, membership_id: str) -> HttpResponse:
    def change(actor: Membership) -> str:
        member = services.member_update(
            actor=actor, membership_id=membership_id, role=request.POST.get("role")
        )
        return f"{member.user.email} is now {member.get_role_display().lower()}."

    return _member_action(request, change)


@require_POST
@login_required
def member_remove(request: HttpRequest, membership_id: str) -> HttpResponse:
    actor = _acting(request)
    if actor is not None and str(actor.pk) == membership_id:
        try:
            services.member_remove(actor=actor, membership_id=membership_id)
        except ApplicationError as e:
            messages.error(request, e.message)
            return _Redirect303(reverse(MEMBERS_PAGE))
        request.session.pop(selectors.ORGANIZATION_SESSION_KEY, None)
        messages.success(request, f"You left {actor.organization.name}.")
        return _Redirect303(reverse("billing:page"))

    def remove(actor: Membership) -> str:
        target = selectors.member_get(organization_id=actor.organization_id, membership_id=membership_id)
        services.member_remove(actor=actor, membership_id=membership_id)
        return f"{target.user.email} was removed."

    return _member_action(request, remove)


@require_POST
@login_required
def invitation_revoke(request: HttpRequest, invitation_id: str) -> HttpResponse:
    def revoke(actor: Membership) -> str:
        services.invitation_revoke(actor=actor, invitation_id=invitation_id)
        return "Invitation revoked: its link no longer works."

    return _member_action(request, revoke)


@never_cache
@require_POST
@login_required
def invitation_fresh_link(request: HttpRequest, invitation_id: str) -> HttpResponse:
    """Re-issue an invitation's link and show it once, to copy (the one sent before stops
    working). Rendered, not redirected: the link is never kept in the session or a message."""
    actor = _acting(request)
    if actor is None:
        return _Redirect303(reverse("billing:page"))
    try:
        link = services.invitation_link_refresh(actor=actor, invitation_id=invitation_id)
    except ApplicationError as e:
        messages.error(request, e.message)
        return _Redirect303(reverse(MEMBERS_PAGE))
    return _members_page(request, actor, fresh_link=link, fresh_for=int(invitation_id))


# --- The invitation page ---------------------------------------------------------------------


def _joined(request: HttpRequest, membership: Membership) -> HttpResponse:
    request.session[selectors.ORGANIZATION_SESSION_KEY] = membership.organization_id
    messages.success(
        request, f"You joined {membership.organization.name} as {membership.get_role_display().lower()}."
    )
    return _Redirect303(reverse("billing:page"))


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    """Join through an invitation's link: log in, or create an account for the invited
    e-mail, and join in the same step; a person logged in with another e-mail is told so."""
    invitation = selectors.invitation_by_token(token=token)
    if invitation is None:
        return render(request, "organizations/invitation.html", {"invalid": True}, status=410)
    user = request.user
    account_exists = User.objects.filter(email__iexact=invitation.email).exists()
    context: dict[str, Any] = {"invitation": invitation, "account_exists": account_exists}
    if user.is_authenticated:
        if user.email.lower() != invitation.email.lower():  # type: ignore[union-attr]
            context["mismatch"] = True
            return render(request, "organizations/invitation.html", context, status=403)
        if request.method == "POST":
            try:
                return _joined(request, services.invitation_accept(user=user, token=token))  # type: ignore[arg-type]
            except ApplicationError as e:
                context["error"] = e.message
        return render(request, "organizations/invitation.html", context)
    if account_exists:
        form: Any = LoginForm(request, data=request.POST if request.method == "POST" else None)
        if request.method == "POST":
            data = request.POST.copy()
            data["username"] = invitation.email  # the invited e-mail, whatever was sent
            form = LoginForm(request, data=data)
            if form.is_valid():
                login(request, form.get_user())
                try:
                    return _joined(request, services.invitation_accept(user=form.get_user(), token=token))
                except ApplicationError as e:
                    context["error"] = e.message
        context["login_form"] = form
    else:
        data = None
        if request.method == "POST":
            data = request.POST.copy()
            data["email"] = invitation.email  # fixed: the account is for the invited e-mail
        form = SignupForm(data=data, initial={"email": invitation.email})
        if data is not None and form.is_valid():
            try:
                membership = services.signup_and_accept(token=token, password=form.cleaned_data["password1"])
            except ApplicationError as e:
                context["error"] = e.message
            else:
                login(request, membership.user, backend=AUTH_BACKEND)
                return _joined(request, membership)
        context["signup_form"] = form
    status = 429 if getattr(context.get("login_form"), "rate_limited", None) else 200
    return render(request, "organizations/invitation.html", context, status=status)


# --- Sign-up ---------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def signup_page(request: HttpRequest) -> HttpResponse:
    """A new account and its first organization (its owner), from the login page."""
    if request.user.is_authenticated:
        return HttpResponseRedirect(reverse("billing:page"))
    form = OrganizationSignupForm(data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        membership = services.signup_with_organization(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            organization_name=form.cleaned_data["organization"],
        )
        login(request, membership.user, backend=AUTH_BACKEND)
        messages.success(
            request, f"Welcome! {membership.organization.name} is ready: choose a plan to start."
        )
        return _Redirect303(reverse("billing:page"))
    return render(request, "registration/signup.html", {"form": form})
