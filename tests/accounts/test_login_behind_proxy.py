"""Behind the documented proxy (nginx on the same host, X-Forwarded-For), with TRUSTED_PROXIES
left unset: one client's failed logins do not refuse anyone else's."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.assertions import assert_error
from tests.conftest import PASSWORD

ATTACKER = "198.51.100.66"
VICTIM = "203.0.113.7"


@pytest.fixture(autouse=True)
def _rates(settings):
    settings.LOGIN_RATE = "5/min"
    settings.LOGIN_EMAIL_RATE = "20/min"
    settings.LOGIN_IP_RATE = "30/min"
    # Not set by the suite: the shipped default.
    assert settings.TRUSTED_PROXIES == ["127.0.0.0/8", "::1"]


def via_proxy(client_address: str, *, peer: str = "127.0.0.1") -> dict[str, Any]:
    """What nginx on loopback sends: its own address as the peer, the client's appended."""
    return {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": client_address}


def api_login(email: str, password: str, **meta: Any) -> Any:
    return APIClient().post("/auth/token/", {"email": email, "password": password}, format="json", **meta)


def form_login(email: str, password: str, **meta: Any) -> Any:
    return Client(**meta).post("/accounts/login/", {"username": email, "password": password})


def fail_35_times(attacker: str | list[str], *, peer: str = "127.0.0.1") -> None:
    """35 failed logins (for 35 e-mails: the per-address limit, 30, is the one reached)."""
    addresses = attacker if isinstance(attacker, list) else [attacker] * 35
    for n, address in enumerate(addresses):
        response = api_login(f"nobody{n}@example.com", "guess", **via_proxy(address, peer=peer))
        assert response.status_code == (401 if n < 30 else 429), response.content


@pytest.mark.django_db
@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", ""])  # "": gunicorn on a unix socket
def test_a_forwarded_attacker_does_not_refuse_another_clients_login(owner, peer):
    fail_35_times(ATTACKER, peer=peer)

    # The attacker's address is refused, the victim's is not: through the token API, the form.
    assert_error(api_login(owner.email, PASSWORD, **via_proxy(ATTACKER, peer=peer)), 429, "RATE_LIMITED")
    token = api_login(owner.email, PASSWORD, **via_proxy(VICTIM, peer=peer))
    assert token.status_code == 200, token.content
    form = form_login(owner.email, PASSWORD, **via_proxy(VICTIM, peer=peer))
    assert form.status_code == 302, form.content[:300]


@pytest.mark.django_db
def test_an_ipv6_client_is_counted_by_its_64(owner):
    # Every failure from another address of one /64: still one client.
    fail_35_times([f"2001:db8:1:2::{n + 1:x}" for n in range(35)])
    refused = api_login(owner.email, PASSWORD, **via_proxy("2001:db8:1:2:ffff::1"))
    assert_error(refused, 429, "RATE_LIMITED")
    neighbour = api_login(owner.email, PASSWORD, **via_proxy("2001:db8:1:3::1"))
    assert neighbour.status_code == 200, neighbour.content


@pytest.mark.django_db
def test_a_client_that_is_not_the_proxy_does_not_choose_its_address(owner):
    # Straight to gunicorn from elsewhere, naming someone else in the header: the header is ignored.
    for n in range(35):
        api_login(
            f"nobody{n}@example.com", "guess", REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}"
        )
    forged = api_login(owner.email, PASSWORD, REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert_error(forged, 429, "RATE_LIMITED")
