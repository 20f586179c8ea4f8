"""Races on members: each request on its own thread and database connection (as under
gunicorn's threaded workers), against the leg's real database (a SQLite file or PostgreSQL)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from organizations.models import Membership
from tests.organizations.helpers import client_for, last_token


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_accepts_of_one_invitation_make_one_membership(owner, organization, make_user):
    client_for(owner).post("/organizations/invitations", {"email": "ben@example.com"}, format="json")
    token = last_token("ben@example.com")
    ben = make_user(email="ben@example.com")
    clients = [client_for(ben) for _ in range(10)]

    responses = race([functools.partial(c.post, f"/invitations/{token}/accept") for c in clients])

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [410] * 9, [r.content for r in responses]
    assert Membership.objects.filter(user=ben, organization=organization).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_last_two_owners_removing_each_other_at_once_leave_one(owner, organization, make_user):
    second = make_user(email="second@example.com", role="owner", organization=organization)
    first_id = Membership.objects.get(user=owner).pk
    second_id = Membership.objects.get(user=second).pk
    one, two = client_for(owner), client_for(second)

    responses = race(
        [
            lambda: one.delete(f"/organizations/members/{second_id}"),
            lambda: two.delete(f"/organizations/members/{first_id}"),
        ]
    )

    assert sorted(r.status_code for r in responses)[0] == 200, [r.content for r in responses]
    assert Membership.objects.filter(organization=organization, role="owner").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_last_two_owners_leaving_at_once_leave_one(owner, organization, make_user):
    second = make_user(email="second@example.com", role="owner", organization=organization)
    first_id = Membership.objects.get(user=owner).pk
    second_id = Membership.objects.get(user=second).pk
    one, two = client_for(owner), client_for(second)

    responses = race(
        [
            lambda: one.delete(f"/organizations/members/{first_id}"),
            lambda: two.delete(f"/organizations/members/{second_id}"),
        ]
    )

    assert sorted(r.status_code for r in responses) == [200, 409], [r.content for r in responses]
    assert Membership.objects.filter(organization=organization, role="owner").count() == 1
