"""View decorators gating an HTML view on billing: access, or one capability of the plan.

    @login_required
    @billing_access_required
    def reports(request): ...

    @login_required
    @capability_required("EXTENDED_SUPPORT")
    def support(request): ...

A refused person is sent to the billing page with a message naming the plans that would
unlock the page. A let-through request costs one query (the membership, its organization and
its billing access together) and never calls Stripe; the view finds the answer in
`request.billing_access`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from billing.capabilities import (
    BillingAccess,
    capability_description,
    names_sentence,
    plan_names_with_capability,
    user_billing_access,
)

View = Callable[..., HttpResponse]


def _to_billing(request: HttpRequest, message: str) -> HttpResponse:
    messages.warning(request, message)
    return HttpResponseRedirect(reverse("billing:page"))


def _no_access_message() -> str:
    names = plan_names_with_capability(None)
    if names:
        return f"This page needs a subscription: choose a plan ({names_sentence(names)}) to unlock it."
    return "This page needs a subscription: choose a plan to unlock it."


def capability_missing_message(code: str, *, fetch: bool = True) -> str:
    """'Extended support comes with the Pro plan: ...' (the plans from Stripe's catalogue)."""
    names = plan_names_with_capability(code, fetch=fetch)
    what = capability_description(code, fetch=fetch)
    if names:
        plural = "plan" if len(names) == 1 else "plans"
        return f"{what} comes with the {names_sentence(names)} {plural}: change your plan to unlock it."
    return f"{what} is not included in your plan: change your plan to unlock it."


def _gate(request: HttpRequest, code: str | None) -> HttpResponse | None:
    """None to let the request through, else the response that refuses it."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    access: BillingAccess | None = getattr(request, "billing_access", None)
    if access is None:
        _, access = user_billing_access(request.user)  # type: ignore[arg-type]
        if access is None:  # no organization, or an inactive one: the billing page says why
            return HttpResponseRedirect(reverse("billing:page"))
        request.billing_access = access  # type: ignore[attr-defined]
    if not access.has_access:
        return _to_billing(request, _no_access_message())
    if code is not None and access.capability(code) is None:
        return _to_billing(request, capability_missing_message(code))
    return None


def billing_access_required(view: View) -> View:
    """Let the view run only for an organization with access; else to `/billing/` with a message."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _gate(request, None) or view(request, *args, **kwargs)

    return wrapped


def capability_required(code: str) -> Callable[[View], View]:
    """Let the view run only when the organization's plan has `code`; else to `/billing/` with a
    message naming the plans that have it."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return _gate(request, code) or view(request, *args, **kwargs)

        return wrapped

    return decorator
