"""Sessions, Django's user and messages run for pages and the admin, not for the JSON API."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from core.middleware import AuthenticationMiddleware, MessageMiddleware, SessionMiddleware


def chain(seen: dict[str, bool]):
    def view(request):
        seen.update(
            session=hasattr(request, "session"),
            user=hasattr(request, "user"),
            messages=hasattr(request, "_messages"),
        )
        return HttpResponse("ok")

    return SessionMiddleware(AuthenticationMiddleware(MessageMiddleware(view)))


@pytest.mark.parametrize("path", ["/subscriptions/portal", "/subscriptions", "/auth/token/"])
def test_an_api_request_skips_them(path):
    seen: dict[str, bool] = {}
    response = chain(seen)(RequestFactory().post(path))
    assert response.status_code == 200
    assert seen == {"session": False, "user": False, "messages": False}
    assert not response.cookies


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/billing/", "/admin/", "/accounts/login/"])
def test_a_page_request_runs_them(path):
    seen: dict[str, bool] = {}
    chain(seen)(RequestFactory().get(path))
    assert seen == {"session": True, "user": True, "messages": True}


@pytest.mark.django_db
def test_the_billing_page_still_knows_its_logged_in_user(client, owner):
    client.force_login(owner)
    response = client.get("/billing/")
    assert response.status_code == 200
    assert response.wsgi_request.user == owner
