import pytest
from django.db import IntegrityError, transaction

from organizations.models import Membership, Organization


@pytest.mark.django_db
def test_a_user_belongs_to_an_organization_once_and_has_one_default(make_user, make_organization):
    user = make_user(role="owner")
    first = Membership.objects.get(user=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=user, organization=first.organization, role="member")
    second = Membership.objects.create(user=user, organization=make_organization(), role="member")
    assert first.is_default and not second.is_default  # the first membership is the default
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(pk=second.pk).update(is_default=True)
    assert Membership.objects.filter(user=user).count() == 2


@pytest.mark.django_db
def test_stripe_customer_id_is_unique_but_many_may_have_none(make_organization):
    make_organization(stripe_customer_id=None)
    make_organization(stripe_customer_id=None)
    make_organization(stripe_customer_id="cus_1")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_organization(stripe_customer_id="cus_1")
    assert Organization.objects.count() == 3


@pytest.mark.django_db
def test_defaults_and_roles(organization, owner, member):
    assert organization.is_active
    assert organization.created_at is not None
    assert owner.memberships.get().can_manage_billing
    assert not member.memberships.get().can_manage_billing
    assert {c for c, _ in Membership.Role.choices} == {"owner", "admin", "billing", "member"}
    assert list(organization.memberships.order_by("role").values_list("role", flat=True)) == [
        "member",
        "owner",
    ]


@pytest.mark.django_db
def test_seed_demo_is_idempotent(capsys):
    from django.core.management import call_command

    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "owner@demo.example.com" in out and "member@demo.example.com" in out
    # The demo organization with its owner and member, and a second one of the owner's (the
    # page's organization switcher shows).
    assert Organization.objects.count() == 2
    demo = Organization.objects.get(name="Demo Organization")
    roles = dict(demo.memberships.values_list("user__email", "role"))
    assert roles == {"owner@demo.example.com": "owner", "member@demo.example.com": "member"}
    owner = Membership.objects.filter(user__email="owner@demo.example.com")
    assert owner.count() == 2 and owner.get(is_default=True).organization == demo
