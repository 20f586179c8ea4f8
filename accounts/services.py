"""Account services: the login rate limit.

Every door that checks a password (the login form, `POST /auth/token/`, the admin's login)
goes through `django.contrib.auth.authenticate`, hence through
`accounts.backends.RateLimitedModelBackend`, which wraps the check in `login_attempt`.

Only failed checks count, against three sliding-window limits in the shared cache:

- `LOGIN_RATE` per (email, client address) pair: the lock a guesser runs into;
- `LOGIN_EMAIL_RATE` per email, from any address: a guesser spread over many addresses;
- `LOGIN_IP_RATE` per client address, for any email: one address trying many accounts.

The pair limit is the low one, so that failures from one address do not lock the account's
owner out from another; the other two are higher, so that an office behind one address is
not one budget. A successful login clears the failures of its pair.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings

from accounts.errors import LoginRateLimited
from core import ratelimit
from core.client_address import rate_limit_address


def _email_hash(email: str) -> str:
    # Hashed: no addresses in cache keys (or in Redis), and a bounded key length.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _limits(email: str, ip: str | None) -> list[tuple[str, str]]:
    """(key, rate) of every limit an attempt falls under, the address's first."""
    email_hash = _email_hash(email)
    ip = rate_limit_address(ip)  # an IPv6 client is counted by its /64
    limits = []
    if ip:
        limits.append((f"login:ip:{ip}", settings.LOGIN_IP_RATE))
    limits.append((f"login:email:{email_hash}", settings.LOGIN_EMAIL_RATE))
    limits.append((f"login:pair:{email_hash}:{ip or '-'}", settings.LOGIN_RATE))
    return limits


@dataclass
class LoginAttempt:
    """One password check in progress; `succeeded()` once the password was right."""

    email: str
    ip: str | None
    _held: list[tuple[str, str, float]] = field(default_factory=list)

    def succeeded(self) -> None:
        for key, rate, stamp in self._held:
            ratelimit.forget(key=key, stamp=stamp, rate=rate)
        self._held.clear()
        ratelimit.reset(key=_limits(self.email, self.ip)[-1][0])


@contextmanager
def login_attempt(*, email: str, ip: str | None) -> Iterator[LoginAttempt]:
    """Hold a place under every limit for one password check, or raise LoginRateLimited.

    The place is taken before the check (so that concurrent guesses cannot all pass a limit
    that none has reached yet) and given back if the check succeeds: only failures stay
    counted. An attempt refused by one limit counts against none.
    """
    attempt = LoginAttempt(email=email, ip=ip)
    for key, rate in _limits(email, ip):
        retry_after, stamp = ratelimit.hit_stamped(key=key, rate=rate)
        if retry_after is not None:
            for held_key, held_rate, held_stamp in attempt._held:
                ratelimit.forget(key=held_key, stamp=held_stamp, rate=held_rate)
            raise LoginRateLimited(retry_after=retry_after)
        assert stamp is not None
        attempt._held.append((key, rate, stamp))
    yield attempt
