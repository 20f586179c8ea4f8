"""core.queries.CompiledQuery: the same objects as the queryset it compiles, in one query."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import User
from accounts.selectors import user_with_membership_get
from core.queries import CompiledInsert, CompiledQuery
from organizations.models import Membership, Organization
from tests.assertions import model_fields

pytestmark = pytest.mark.django_db


def test_the_user_with_membership_and_organization_is_what_the_orm_loads(
    make_user: Callable[..., User], organization: Organization, django_assert_num_queries: Any
) -> None:
    user = make_user(email="a@example.com", role=Membership.Role.BILLING, organization=organization)
    expected = Membership.objects.select_related("organization").get(user=user)

    with django_assert_num_queries(1):
        loaded = user_with_membership_get(user_id=user.pk)
        assert loaded is not None
        membership = loaded.default_membership  # type: ignore[attr-defined]
        assert membership.organization.name == "Acme Inc"

    assert model_fields(loaded) == model_fields(expected.user)  # dates converted, booleans as booleans
    assert loaded.date_joined.tzinfo is not None and loaded.is_active is True
    assert model_fields(loaded) == model_fields(expected.user)
    assert model_fields(membership) == model_fields(expected)
    assert model_fields(membership.organization) == model_fields(expected.organization)
    assert loaded._state.adding is False and loaded._state.db == "default"


def test_a_user_without_membership_has_none_and_an_unknown_id_is_none(
    make_user: Callable[..., User], django_assert_num_queries: Any
) -> None:
    user = make_user(email="alone@example.com")
    with django_assert_num_queries(1):
        loaded = user_with_membership_get(user_id=user.pk)
        assert loaded is not None and loaded.email == "alone@example.com"
        # Loaded as missing: no second query.
        assert loaded.default_membership is None  # type: ignore[attr-defined]
    assert user_with_membership_get(user_id=user.pk + 1000) is None


def test_each_call_runs_with_its_own_parameters(make_user: Callable[..., User]) -> None:
    users = [make_user(email=f"u{i}@example.com", role="member") for i in range(3)]
    for user in reversed(users):
        loaded = user_with_membership_get(user_id=user.pk)
        assert loaded is not None and loaded.pk == user.pk and loaded.email == user.email
        expected = user.memberships.get().organization.pk
        assert loaded.default_membership.organization.pk == expected  # type: ignore[attr-defined]


def test_an_id_that_is_not_a_primary_key_is_refused_as_the_orm_refuses_it() -> None:
    with pytest.raises(ValueError):
        user_with_membership_get(user_id="1 OR 1=1")
    with pytest.raises(TypeError):
        user_with_membership_get(user_id=[1])


def test_the_querysets_own_constants_stay_and_each_key_takes_its_places(
    make_user: Callable[..., User],
) -> None:
    b = make_user(email="b@example.com")
    c = make_user(email="c@example.com")
    query: CompiledQuery[User] = CompiledQuery(
        lambda pk: (
            User.objects.filter(pk=pk, email__startswith="b") | User.objects.filter(pk=pk, is_staff=True)
        )
    )
    assert query.first(b.pk) == b
    assert query.first(c.pk) is None  # "b" is the queryset's constant, not a parameter slot
    assert len(query._local.compiled.places[0]) == 2  # the key, in both of its places


def test_a_key_the_sql_does_not_carry_as_it_is_is_refused(make_user: Callable[..., User]) -> None:
    user = make_user(email="d@example.com")
    with pytest.raises(ValueError, match="every parameter"):
        CompiledQuery(lambda pk: User.objects.filter(pk=pk + 1)).first(user.pk)
    with pytest.raises(TypeError, match="integer keys"):
        CompiledQuery(lambda pk: User.objects.filter(pk=pk)).first("1")


def test_annotations_are_set_as_the_orm_sets_them(make_user: Callable[..., User]) -> None:
    from django.db.models import Value

    user = make_user(email="e@example.com")
    query: CompiledQuery[User] = CompiledQuery(
        lambda pk: User.objects.filter(pk=pk).annotate(_flag=Value(7))[:1]
    )
    loaded = query.first(user.pk)
    assert loaded is not None and loaded._flag == 7  # type: ignore[attr-defined]


def test_every_thread_compiles_its_own(make_user: Callable[..., User], transactional_db: None) -> None:
    user = make_user(email="c@example.com", role="owner")
    query: CompiledQuery[User] = CompiledQuery(lambda pk: User.objects.filter(pk=pk))
    assert query.first(user.pk) is not None
    mine = query._local.compiled
    results: list[Any] = []

    def worker() -> None:
        from django.db import connection

        try:
            results.append((query.first(user.pk), query._local.compiled))
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    [(loaded, theirs)] = results
    assert loaded.pk == user.pk
    # Compiled against that thread's own connection, not this one's.
    assert theirs is not mine and theirs.compiler.connection is not mine.compiler.connection


def test_a_compiled_insert_writes_the_row_create_would(
    owner: User, organization: Organization, django_assert_num_queries: Any
) -> None:
    from billing.models import PortalSession

    insert = CompiledInsert(PortalSession)
    values = {"organization": organization, "user": owner, "stripe_session_id": "bps_1", "source": "api"}
    with django_assert_num_queries(1):
        insert.insert(**values, stripe_customer_id="cus_1")
    insert.insert(**values | {"stripe_session_id": "bps_2", "user": None}, stripe_customer_id="cus_2")
    PortalSession.objects.create(**values | {"stripe_session_id": "bps_3"}, stripe_customer_id="cus_3")

    rows = list(PortalSession.objects.order_by("pk").values())
    assert [(r["stripe_session_id"], r["stripe_customer_id"], r["user_id"]) for r in rows] == [
        ("bps_1", "cus_1", owner.pk),
        ("bps_2", "cus_2", None),
        ("bps_3", "cus_3", owner.pk),
    ]
    # auto_now_add and the defaults, as create() sets them
    assert all(r["created_at"] is not None and r["subscriptions_synced_at"] is None for r in rows)
    assert rows[0]["created_at"] <= rows[2]["created_at"]


def test_a_compiled_insert_takes_keys_by_attname_and_refuses_unknownmodel_fields(
    owner: User, organization: Organization
) -> None:
    from billing.models import PortalSession

    insert = CompiledInsert(PortalSession)
    insert.insert(
        organization_id=organization.pk,
        user_id=owner.pk,
        stripe_session_id="bps_1",
        stripe_customer_id="c",
        source="api",
    )
    assert PortalSession.objects.get().user == owner
    with pytest.raises(TypeError, match="no field"):
        insert.insert(organization=organization, stripe_session_id="bps_2", colour="red")
    assert PortalSession.objects.count() == 1


def test_a_compiled_insert_refuses_a_model_with_save_receivers(organization: Organization) -> None:
    from django.db.models.signals import post_save

    def receiver(**kwargs: Any) -> None:
        pass

    post_save.connect(receiver, sender=Organization)
    try:
        with pytest.raises(ValueError, match="save signal receivers"):
            CompiledInsert(Organization).insert(name="Other")
    finally:
        post_save.disconnect(receiver, sender=Organization)
