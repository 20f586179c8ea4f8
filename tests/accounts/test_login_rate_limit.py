"""Failed logins are rate limited at every door that checks a password: the login form, the
token API and the admin's login, per email and client address together (LOGIN_RATE), per email
(LOGIN_EMAIL_RATE) and per client address (LOGIN_IP_RATE), all doors sharing the counts."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests import figures
from tests.conftest import PASSWORD

RATE = 5


@pytest.fixture(autouse=True)
def _rates(settings, ratelimit_clock):
    settings.LOGIN_RATE = f"{RATE}/min"
    settings.LOGIN_IP_RATE = "12/min"


def form_login(client: Client, email: str, password: str, ip: str = "198.51.100.1"):
    return client.post("/accounts/login/", {"username": email, "password": password}, REMOTE_ADDR=ip)


def api_login(email: str, password: str, ip: str = "198.51.100.1"):
    return APIClient().post(
        "/auth/token/", {"email": email, "password": password}, format="json", REMOTE_ADDR=ip
    )


def assert_api_rate_limited(response) -> None:
    assert response.status_code == 429, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["success"] is False and body["error_code"] == "RATE_LIMITED" and body["message"], body
    assert "access" not in body and "refresh" not in body
    assert response["Retry-After"] == "60"  # the clock is stopped: the whole window


def assert_form_rate_limited(client: Client, response) -> None:
    assert response.status_code == 429, response.content[:500]
    assert "text/html" in response["Content-Type"]
    assert b"Too many login attempts" in response.content
    assert response["Retry-After"] == "60"  # the clock is stopped: the whole window
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_login_form_is_limited_per_email(owner):
    client = Client()
    for _ in range(RATE):
        response = form_login(client, owner.email, "wrong-password")
        assert response.status_code == 200 and b"Please enter a correct" in response.content
    # Even the right password is refused now: the point is to stop guessing.
    assert_form_rate_limited(client, form_login(client, owner.email, PASSWORD))
    figures.count("login rate limit", "form attempts refused")


@pytest.mark.django_db
def test_the_token_api_is_limited_per_email(owner):
    for _ in range(RATE):
        response = api_login(owner.email, "wrong-password")
        assert response.status_code == 401 and response.json()["error_code"] == "INVALID_CREDENTIALS"
    assert_api_rate_limited(api_login(owner.email, PASSWORD))
    figures.count("login rate limit", "API attempts refused")


@pytest.mark.django_db
def test_form_api_and_admin_share_the_limit_and_ignore_case(owner, make_user):
    client = Client()
    form_login(client, owner.email.upper(), "wrong-1")
    form_login(client, owner.email, "wrong-2")
    api_login(f"  {owner.email.title()}", "wrong-3")
    client.post("/admin/login/", {"username": owner.email, "password": "wrong-4"}, REMOTE_ADDR="198.51.100.1")
    api_login(owner.email, "wrong-5")
    assert_api_rate_limited(api_login(owner.email, PASSWORD))
    assert_form_rate_limited(client, form_login(client, owner.email, PASSWORD))
    admin = client.post(
        "/admin/login/", {"username": owner.email, "password": PASSWORD}, REMOTE_ADDR="198.51.100.1"
    )
    assert admin.status_code == 429 and 1 <= int(admin["Retry-After"]) <= 60
    assert b"Too many login attempts" in admin.content
    assert "_auth_user_id" not in client.session
    # Another account is not affected.
    other = make_user()
    assert api_login(other.email, PASSWORD).status_code == 200


@pytest.mark.django_db
def test_the_admin_login_is_limited_for_staff_too(make_user):
    staff = make_user(is_staff=True, is_superuser=True)
    client = Client()
    for i in range(RATE):
        client.post("/admin/login/", {"username": staff.email, "password": f"guess-{i}"})
    response = client.post("/admin/login/", {"username": staff.email, "password": PASSWORD})
    assert response.status_code == 429 and 1 <= int(response["Retry-After"]) <= 60
    assert b"Too many login attempts" in response.content
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_one_address_trying_many_accounts_is_limited(make_user):
    users = [make_user() for _ in range(14)]
    answers = [api_login(u.email, "wrong", ip="203.0.113.9").status_code for u in users[:12]]
    assert answers == [401] * 12
    assert_api_rate_limited(api_login(users[12].email, PASSWORD, ip="203.0.113.9"))
    assert_form_rate_limited(Client(), form_login(Client(), users[12].email, PASSWORD, ip="203.0.113.9"))
    # Another address is not, and the refused attempts did not count against the account.
    assert api_login(users[12].email, PASSWORD, ip="203.0.113.10").status_code == 200


@pytest.mark.django_db
def test_a_successful_login_within_the_limit_still_works(owner):
    for _ in range(RATE - 1):
        form_login(Client(), owner.email, "wrong")
    response = api_login(owner.email, PASSWORD)
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access", "refresh"}


@pytest.mark.django_db(transaction=True)  # the counters are rows: no test transaction holding SQLite's lock
def test_the_limit_holds_when_attempts_arrive_at_once(owner):
    """The limiter's check-and-count is one statement: 20 threads, exactly RATE failures get through."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(20)
    statuses: list[int] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            barrier.wait()
            status = api_login(owner.email, "wrong").status_code
            with lock:
                statuses.append(status)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [401] * RATE + [429] * (20 - RATE), statuses


@pytest.mark.django_db
def test_successful_logins_never_count(owner):
    for _ in range(RATE * 3):
        assert api_login(owner.email, PASSWORD).status_code == 200
    for _ in range(RATE):
        assert api_login(owner.email, "wrong").status_code == 401


@pytest.mark.django_db
def test_a_success_clears_the_failures_of_its_email_and_address(owner):
    for _ in range(RATE - 1):
        api_login(owner.email, "wrong")
    assert api_login(owner.email, PASSWORD).status_code == 200
    for _ in range(RATE):
        assert api_login(owner.email, "wrong").status_code == 401
    assert_api_rate_limited(api_login(owner.email, PASSWORD))
