"""Account services: the login rate limit.

Every door that checks a password (the login form, `POST /auth/token/`, the admin's login)
goes through `django.contrib.auth.authenticate`, hence through
`accounts.backends.RateLimitedModelBackend`, which calls `login_attempt_register` first.
"""

from __future__ import annotations

import hashlib

from django.conf import settings

from core import ratelimit
from core.errors import RateLimited


class LoginRateLimited(RateLimited):
    """Too many login attempts for this email address or from this client address."""

    message = "Too many login attempts; try again later"


def _email_key(email: str) -> str:
    # Hashed: no addresses in cache keys (or in Redis), and a bounded key length.
    normalized = email.strip().lower().encode()
    return "login:email:" + hashlib.sha256(normalized).hexdigest()


def login_attempt_register(*, email: str, ip: str | None) -> None:
    """Count one login attempt, successful or not; raise LoginRateLimited past the limits.

    Two limits: `LOGIN_RATE` per email address (guessing one account's password from many
    addresses) and `LOGIN_IP_RATE` per client address (trying many accounts from one). An
    attempt refused by the address limit does not count against the email.
    """
    if ip:
        retry_after = ratelimit.hit(key=f"login:ip:{ip}", rate=settings.LOGIN_IP_RATE)
        if retry_after is not None:
            raise LoginRateLimited(retry_after=retry_after)
    retry_after = ratelimit.hit(key=_email_key(email), rate=settings.LOGIN_RATE)
    if retry_after is not None:
        raise LoginRateLimited(retry_after=retry_after)
