"""Sessions, Django's user and messages run for pages and the admin, not for the JSON API."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from core.middleware import (
    AuthenticationMiddleware,
    MessageMiddleware,
    SessionMiddleware,
    api_paths,
    is_api_route,
)


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


@pytest.mark.parametrize(
    "path",
    [
        "/subscriptions/checkout-session/cs_test_1",
        "/subscriptions/pending-payment/",
        "/auth/token/refresh",
    ],
)
def test_every_api_route_of_the_urlconf_is_one(path):
    assert is_api_route(path)


@pytest.mark.parametrize("path", ["/subscriptionsx", "/subscriptions/unknown", "/auth/", "/billing/portal/"])
def test_other_paths_are_pages(path):
    assert not is_api_route(path)


def test_api_paths_are_exact_routes_and_the_prefixes_of_routes_with_converters():
    from django.urls import path

    def view(request):
        return HttpResponse()

    exact, prefixes = api_paths([path("a/b", view), path("a/<str:id>/c", view)])
    assert exact == {"/a/b"}
    assert prefixes == ("/a/",)
