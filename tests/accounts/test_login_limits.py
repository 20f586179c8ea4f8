"""Failed password checks are limited per (email, client address), with higher per-email and
per-address limits behind; successes never count; every door answers 429 + Retry-After."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.assertions import assert_error
from tests.conftest import PASSWORD

OFFICE = "203.0.113.7"
ATTACKER = "198.51.100.66"
PROXY = "10.0.0.5"


@pytest.fixture(autouse=True)
def _rates(settings):
    settings.LOGIN_RATE = "5/min"
    settings.LOGIN_EMAIL_RATE = "20/min"
    settings.LOGIN_IP_RATE = "30/min"
    settings.TRUSTED_PROXIES = []


def api_login(email, password, **extra):
    return APIClient().post("/auth/token/", {"email": email, "password": password}, format="json", **extra)


def assert_retry_after(response) -> None:
    assert 1 <= int(response["Retry-After"]) <= 60, response["Retry-After"]


@pytest.mark.django_db
def test_forty_users_log_in_from_one_address_within_a_minute(make_user):
    users = [make_user() for _ in range(40)]
    answers = [api_login(u.email, PASSWORD, REMOTE_ADDR=OFFICE).status_code for u in users]
    assert answers == [200] * 40


@pytest.mark.django_db
def test_six_correct_logins_in_a_row_all_succeed(owner):
    for _ in range(6):
        response = api_login(owner.email, PASSWORD, REMOTE_ADDR=OFFICE)
        assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_a_success_clears_the_pairs_failures(owner):
    for _ in range(4):
        assert api_login(owner.email, "wrong", REMOTE_ADDR=OFFICE).status_code == 401
    assert api_login(owner.email, PASSWORD, REMOTE_ADDR=OFFICE).status_code == 200
    for _ in range(5):
        assert api_login(owner.email, "wrong", REMOTE_ADDR=OFFICE).status_code == 401
    assert_error(api_login(owner.email, PASSWORD, REMOTE_ADDR=OFFICE), 429, "RATE_LIMITED")


@pytest.mark.django_db
def test_an_attacker_cannot_lock_the_victim_out_from_elsewhere(owner):
    for _ in range(5):
        assert api_login(owner.email, "guess", REMOTE_ADDR=ATTACKER).status_code == 401
    refused = api_login(owner.email, PASSWORD, REMOTE_ADDR=ATTACKER)
    assert_error(refused, 429, "RATE_LIMITED")
    assert_retry_after(refused)
    assert "access" not in refused.json()
    assert api_login(owner.email, PASSWORD, REMOTE_ADDR=OFFICE).status_code == 200


@pytest.mark.django_db
def test_the_email_limit_stops_guessing_spread_over_many_addresses(owner):
    for i in range(20):
        assert api_login(owner.email, "guess", REMOTE_ADDR=f"198.51.100.{i + 1}").status_code == 401
    assert_error(api_login(owner.email, PASSWORD, REMOTE_ADDR="198.51.100.200"), 429, "RATE_LIMITED")


@pytest.mark.django_db
def test_the_address_limit_stops_one_address_trying_many_accounts(make_user):
    users = [make_user() for _ in range(31)]
    for user in users[:30]:
        assert api_login(user.email, "guess", REMOTE_ADDR=ATTACKER).status_code == 401
    assert_error(api_login(users[30].email, PASSWORD, REMOTE_ADDR=ATTACKER), 429, "RATE_LIMITED")
    assert api_login(users[30].email, PASSWORD, REMOTE_ADDR=OFFICE).status_code == 200


@pytest.mark.django_db
def test_behind_a_trusted_proxy_clients_are_told_apart_by_x_forwarded_for(settings, owner):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for _ in range(5):
        api_login(owner.email, "guess", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"192.0.2.1, {ATTACKER}")
    limited = api_login(owner.email, PASSWORD, REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR=ATTACKER)
    assert_error(limited, 429, "RATE_LIMITED")
    # The victim, through the same proxy: another client address.
    ok = api_login(owner.email, PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{OFFICE}, 10.0.0.9")
    assert ok.status_code == 200, ok.content


@pytest.mark.django_db
def test_an_untrusted_clients_forged_x_forwarded_for_is_ignored(settings, owner):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for i in range(5):
        api_login(owner.email, "guess", REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    forged = api_login(owner.email, PASSWORD, REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert_error(forged, 429, "RATE_LIMITED")


@pytest.mark.django_db
def test_the_login_form_answers_429_with_retry_after(owner):
    client = Client(REMOTE_ADDR=ATTACKER)
    for _ in range(5):
        assert client.post("/accounts/login/", {"username": owner.email, "password": "x"}).status_code == 200
    response = client.post("/accounts/login/", {"username": owner.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "text/html" in response["Content-Type"]
    assert b"Too many login attempts" in response.content
    assert_retry_after(response)
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_admin_login_answers_429_with_retry_after(make_user):
    staff = make_user(is_staff=True, is_superuser=True)
    client = Client(REMOTE_ADDR=ATTACKER)
    for _ in range(5):
        assert client.post("/admin/login/", {"username": staff.email, "password": "x"}).status_code == 200
    response = client.post("/admin/login/", {"username": staff.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "text/html" in response["Content-Type"]
    assert b"Too many login attempts" in response.content
    assert_retry_after(response)
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_the_admin_login_still_works(make_user):
    staff = make_user(is_staff=True, is_superuser=True)
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": staff.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
