"""Why a login is refused before its password is checked."""

from __future__ import annotations

from core.errors import RateLimited


class LoginRateLimited(RateLimited):
    """Too many failed logins for this email address or from this client address."""

    message = "Too many login attempts; try again later"
