"""The organizations API, row by row: organizations, members, invitations, and each error."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from organizations.models import Invitation, MemberAuditEntry, Membership
from tests.assertions import assert_error
from tests.organizations.helpers import client_for, last_token

pytestmark = pytest.mark.django_db

MEMBERS = "/organizations/members"
INVITATIONS = "/organizations/invitations"


def member_id(user, organization):
    return Membership.objects.get(user=user, organization=organization).pk


# --- GET/POST /organizations ---------------------------------------------------------------------


def test_list_shows_the_callers_active_organizations_with_role_and_default(
    owner, organization, make_organization
):
    other = make_organization(name="Client Ltd")
    Membership.objects.create(user=owner, organization=other, role="billing")
    gone = make_organization(name="Gone", is_active=False)
    Membership.objects.create(user=owner, organization=gone, role="owner")
    response = client_for(owner).get("/organizations")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "success": True,
        "data": [
            {"id": organization.pk, "name": "Acme Inc", "role": "owner", "isDefault": True},
            {"id": other.pk, "name": "Client Ltd", "role": "billing", "isDefault": False},
        ],
    }


def test_create_makes_the_caller_owner_and_the_first_is_the_default(make_user):
    newcomer = make_user(email="new@example.com")
    client = client_for(newcomer)
    first = client.post("/organizations", {"name": "First"}, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["data"] | {"id": 0} == {"id": 0, "name": "First", "role": "owner", "isDefault": True}
    second = client.post("/organizations", {"name": "Second"}, format="json")
    assert second.status_code == 201 and second.json()["data"]["isDefault"] is False
    assert Membership.objects.filter(user=newcomer, role="owner").count() == 2
    assert_error(client.post("/organizations", {"name": ""}, format="json"), 400, "VALIDATION_ERROR")
    assert_error(
        client.post("/organizations", "not json", content_type="application/json"), 400, "VALIDATION_ERROR"
    )


def test_every_path_answers_the_caller_errors(owner, organization, member):
    anonymous = client_for(owner)
    anonymous.credentials()
    for method, path in [
        ("get", "/organizations"),
        ("get", MEMBERS),
        ("patch", f"{MEMBERS}/1"),
        ("delete", f"{MEMBERS}/1"),
        ("get", INVITATIONS),
        ("delete", f"{INVITATIONS}/1"),
        ("post", "/invitations/abc/accept"),
    ]:
        assert_error(getattr(anonymous, method)(path), 401, "UNAUTHORIZED")
        assert_error(getattr(client_for(owner, "nope"), method)(path), 404, "ORG_NOT_FOUND")
    assert_error(client_for(owner).put(MEMBERS), 405, "METHOD_NOT_ALLOWED")
    gone_id = owner.pk
    client = client_for(owner)
    owner.delete()
    assert_error(client.get(MEMBERS), 404, "USER_NOT_FOUND")
    assert gone_id


def test_a_user_without_organization_gets_no_organization_on_member_paths(make_user):
    alone = make_user(email="alone@example.com")
    assert_error(client_for(alone).get(MEMBERS), 400, "NO_ORGANIZATION")
    assert client_for(alone).get("/organizations").json() == {"success": True, "data": []}


# --- Members --------------------------------------------------------------------------------------


def test_members_list_for_any_member(owner, member, organization):
    response = client_for(member).get(MEMBERS)
    assert response.status_code == 200, response.content
    rows = response.json()["data"]
    assert [(r["email"], r["role"]) for r in rows] == [
        ("owner@acme.example.com", "owner"),
        ("member@acme.example.com", "member"),
    ]
    assert rows[0]["id"] == member_id(owner, organization) and rows[0]["userId"] == owner.pk
    assert rows[0]["joinedAt"].endswith("Z")


def test_owner_changes_a_role_and_it_is_audited(owner, member, organization):
    response = client_for(owner).patch(
        f"{MEMBERS}/{member_id(member, organization)}", {"role": "admin"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["data"]["role"] == "admin"
    entry = MemberAuditEntry.objects.get(action="role_changed")
    assert (entry.actor, entry.subject_email, entry.detail) == (owner, member.email, "member -> admin")


@pytest.mark.parametrize("role", ["member", "billing"])
def test_member_and_billing_roles_may_not_change_roles(make_user, owner, organization, role):
    caller = make_user(email="c@example.com", role=role, organization=organization)
    response = client_for(caller).patch(
        f"{MEMBERS}/{member_id(owner, organization)}", {"role": "member"}, format="json"
    )
    assert_error(response, 403, "MEMBER_PERMISSION_DENIED")
    assert_error(
        client_for(caller).delete(f"{MEMBERS}/{member_id(owner, organization)}"),
        403,
        "MEMBER_PERMISSION_DENIED",
    )


def test_an_admin_cannot_touch_an_owner_nor_grant_owner(make_user, owner, member, organization):
    admin = make_user(email="admin@example.com", role="admin", organization=organization)
    client = client_for(admin)
    owner_url = f"{MEMBERS}/{member_id(owner, organization)}"
    assert_error(client.patch(owner_url, {"role": "member"}, format="json"), 403, "MEMBER_PERMISSION_DENIED")
    assert_error(client.delete(owner_url), 403, "MEMBER_PERMISSION_DENIED")
    member_url = f"{MEMBERS}/{member_id(member, organization)}"
    assert_error(client.patch(member_url, {"role": "owner"}, format="json"), 403, "MEMBER_PERMISSION_DENIED")
    assert client.patch(member_url, {"role": "billing"}, format="json").status_code == 200
    assert client.delete(member_url).status_code == 200
    assert not Membership.objects.filter(user=member).exists()


def test_the_last_owner_cannot_leave_be_demoted_or_removed(owner, organization, make_user):
    url = f"{MEMBERS}/{member_id(owner, organization)}"
    client = client_for(owner)
    assert_error(client.delete(url), 409, "LAST_OWNER")
    assert_error(client.patch(url, {"role": "admin"}, format="json"), 409, "LAST_OWNER")
    second = make_user(email="second@example.com", role="owner", organization=organization)
    assert client.patch(url, {"role": "admin"}, format="json").status_code == 200
    assert_error(client_for(second).delete(f"{MEMBERS}/{member_id(second, organization)}"), 409, "LAST_OWNER")


def test_permission_is_checked_before_the_last_owner_rule(owner, organization, make_user):
    admin = make_user(email="admin@example.com", role="admin", organization=organization)
    # The only owner, touched by an admin: refused for the role, not for being the last owner.
    response = client_for(admin).delete(f"{MEMBERS}/{member_id(owner, organization)}")
    assert_error(response, 403, "MEMBER_PERMISSION_DENIED")


def test_anyone_leaves_and_leaving_the_default_makes_the_oldest_remaining_the_default(
    member, owner, organization, make_organization
):
    older = make_organization(name="Older")
    newer = make_organization(name="Newer")
    Membership.objects.create(user=member, organization=older, role="member")
    Membership.objects.create(user=member, organization=newer, role="member")
    response = client_for(member).delete(f"{MEMBERS}/{member_id(member, organization)}")
    assert response.status_code == 200 and response.json() == {"success": True}, response.content
    assert Membership.objects.get(user=member, is_default=True).organization == older
    assert MemberAuditEntry.objects.filter(action="left", subject_email=member.email).exists()


def test_is_default_on_own_membership_only(member, owner, organization, make_organization):
    other = make_organization(name="Other")
    mine = Membership.objects.create(user=member, organization=other, role="owner")
    client = client_for(member, other)
    response = client.patch(f"{MEMBERS}/{mine.pk}", {"isDefault": True}, format="json")
    assert response.status_code == 200, response.content
    assert Membership.objects.get(user=member, is_default=True) == mine
    # Without the header the new default is the organization acted for.
    assert client_for(member).get(MEMBERS).json()["data"][0]["email"] == member.email
    owner_membership = member_id(owner, organization)
    response = client_for(member, organization).patch(
        f"{MEMBERS}/{owner_membership}", {"isDefault": True}, format="json"
    )
    assert_error(response, 403, "MEMBER_PERMISSION_DENIED")
    assert_error(client.patch(f"{MEMBERS}/{mine.pk}", {}, format="json"), 400, "VALIDATION_ERROR")
    assert_error(
        client.patch(f"{MEMBERS}/{mine.pk}", {"role": "boss"}, format="json"), 400, "VALIDATION_ERROR"
    )


def test_a_membership_of_another_organization_is_not_found_and_nothing_changes(
    owner, organization, make_user, make_organization
):
    other = make_organization(name="Other")
    stranger = make_user(email="stranger@example.com", role="member", organization=other)
    url = f"{MEMBERS}/{member_id(stranger, other)}"
    assert_error(client_for(owner).patch(url, {"role": "admin"}, format="json"), 404, "MEMBER_NOT_FOUND")
    assert_error(client_for(owner).delete(url), 404, "MEMBER_NOT_FOUND")
    assert_error(client_for(owner).delete(f"{MEMBERS}/abc"), 404, "MEMBER_NOT_FOUND")
    assert Membership.objects.get(user=stranger).role == "member"


def test_members_rate_is_per_user_and_its_own_counter(owner, member, organization, settings, make_user):
    settings.MEMBERS_RATE = "2/min"
    client = client_for(owner)
    url = f"{MEMBERS}/{member_id(member, organization)}"
    assert client.patch(url, {"role": "billing"}, format="json").status_code == 200
    assert client.patch(url, {"role": "member"}, format="json").status_code == 200
    response = client.patch(url, {"role": "admin"}, format="json")
    assert_error(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1
    # The billing writes have a counter of their own; other users too.
    assert client.get(MEMBERS).status_code == 200
    other_owner = make_user(email="o2@example.com", role="owner", organization=organization)
    assert client_for(other_owner).patch(url, {"role": "admin"}, format="json").status_code == 200


# --- Invitations ----------------------------------------------------------------------------------


def test_invite_mails_a_link_and_the_invited_user_accepts(owner, organization, make_user):
    response = client_for(owner).post(
        INVITATIONS, {"email": "Ben@Example.com", "role": "admin"}, format="json"
    )
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["email"] == "Ben@Example.com" and data["role"] == "admin" and data["invitedBy"] == owner.email
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["Ben@Example.com"]
    token = last_token("Ben@Example.com")
    assert len(token) >= 22  # at least 128 bits
    assert not Invitation.objects.filter(token_hash=token).exists()  # stored only as a hash
    listed = client_for(owner).get(INVITATIONS).json()["data"]
    assert [i["id"] for i in listed] == [data["id"]]

    ben = make_user(email="ben@example.com")
    accepted = client_for(ben).post(f"/invitations/{token}/accept")
    assert accepted.status_code == 200, accepted.content
    assert (
        accepted.json()["data"]["role"] == "admin" and accepted.json()["data"]["email"] == "ben@example.com"
    )
    assert Membership.objects.get(user=ben).organization == organization
    assert_error(client_for(ben).post(f"/invitations/{token}/accept"), 410, "INVITATION_INVALID")  # used
    assert client_for(owner).get(INVITATIONS).json()["data"] == []


def test_inviting_the_same_email_again_resends_with_a_fresh_link(owner, organization, make_user):
    client = client_for(owner)
    first = client.post(INVITATIONS, {"email": "ben@example.com"}, format="json")
    old_token = last_token("ben@example.com")
    again = client.post(INVITATIONS, {"email": "BEN@example.com", "role": "member"}, format="json")
    assert again.status_code == 200, again.content
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    new_token = last_token("ben@example.com")  # sent to the address as first invited
    assert new_token != old_token and len(mail.outbox) == 2
    ben = make_user(email="ben@example.com")
    assert_error(client_for(ben).post(f"/invitations/{old_token}/accept"), 410, "INVITATION_INVALID")
    assert client_for(ben).post(f"/invitations/{new_token}/accept").status_code == 200


def test_invite_errors(owner, member, organization, make_user):
    client = client_for(owner)
    assert_error(
        client.post(INVITATIONS, {"email": "MEMBER@acme.example.com"}, format="json"), 409, "ALREADY_MEMBER"
    )
    assert_error(client.post(INVITATIONS, {"email": "not-an-email"}, format="json"), 400, "VALIDATION_ERROR")
    assert_error(client.post(INVITATIONS, {"role": "member"}, format="json"), 400, "VALIDATION_ERROR")
    assert_error(
        client_for(member).post(INVITATIONS, {"email": "x@example.com"}, format="json"),
        403,
        "MEMBER_PERMISSION_DENIED",
    )
    assert_error(client_for(member).get(INVITATIONS), 403, "MEMBER_PERMISSION_DENIED")
    admin = make_user(email="admin@example.com", role="admin", organization=organization)
    denied = client_for(admin).post(INVITATIONS, {"email": "x@example.com", "role": "owner"}, format="json")
    assert_error(denied, 403, "MEMBER_PERMISSION_DENIED")
    assert (
        client_for(admin)
        .post(INVITATIONS, {"email": "x@example.com", "role": "admin"}, format="json")
        .status_code
        == 201
    )
    assert (
        client.post(INVITATIONS, {"email": "y@example.com", "role": "owner"}, format="json").status_code
        == 201
    )


def test_accept_with_another_email_is_refused_and_leaves_the_invitation_pending(
    owner, organization, make_user
):
    client_for(owner).post(INVITATIONS, {"email": "ben@example.com"}, format="json")
    token = last_token("ben@example.com")
    eve = make_user(email="eve@example.com")
    assert_error(client_for(eve).post(f"/invitations/{token}/accept"), 403, "INVITATION_EMAIL_MISMATCH")
    assert not Membership.objects.filter(user=eve).exists()
    ben = make_user(email="ben@example.com")
    assert client_for(ben).post(f"/invitations/{token}/accept").status_code == 200


def test_revoked_expired_and_unknown_tokens_are_invalid(owner, organization, make_user):
    client = client_for(owner)
    invited = client.post(INVITATIONS, {"email": "ben@example.com"}, format="json").json()["data"]
    token = last_token("ben@example.com")
    assert client.delete(f"{INVITATIONS}/{invited['id']}").status_code == 200
    ben = make_user(email="ben@example.com")
    assert_error(client_for(ben).post(f"/invitations/{token}/accept"), 410, "INVITATION_INVALID")
    assert_error(client.delete(f"{INVITATIONS}/{invited['id']}"), 404, "INVITATION_NOT_FOUND")

    client.post(INVITATIONS, {"email": "ben@example.com"}, format="json")
    token = last_token("ben@example.com")
    Invitation.objects.filter(revoked_at=None).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(client_for(ben).post(f"/invitations/{token}/accept"), 410, "INVITATION_INVALID")
    assert_error(client_for(ben).post("/invitations/never-issued/accept"), 410, "INVITATION_INVALID")
    assert not Membership.objects.filter(user=ben).exists()


def test_an_invitation_of_another_organization_is_not_found(
    owner, organization, make_user, make_organization
):
    other = make_organization(name="Other")
    other_owner = make_user(email="o@other.example.com", role="owner", organization=other)
    invited = (
        client_for(other_owner).post(INVITATIONS, {"email": "ben@example.com"}, format="json").json()["data"]
    )
    assert_error(client_for(owner).delete(f"{INVITATIONS}/{invited['id']}"), 404, "INVITATION_NOT_FOUND")
    assert Invitation.objects.get(pk=invited["id"]).revoked_at is None


def test_the_invitation_and_its_link_never_reach_a_log(owner, organization, make_user, caplog):
    caplog.set_level("DEBUG")
    client_for(owner).post(INVITATIONS, {"email": "secret.person@example.com"}, format="json")
    token = last_token("secret.person@example.com")
    person = make_user(email="secret.person@example.com")
    client_for(person).post(f"/invitations/{token}/accept")
    text = "\n".join(str(vars(r)) for r in caplog.records)
    assert caplog.records and token not in text and "secret.person" not in text


def test_the_schema_documents_the_organization_header_on_every_path_that_takes_it(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in [
        "/subscriptions/portal",
        "/subscriptions/my",
        "/subscriptions/buy",
        "/organizations",
        "/organizations/members",
    ]:
        for method, operation in schema["paths"][path].items():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
            assert "X-Organization" in names, (path, method)
    plans = schema["paths"]["/subscriptions"]["get"]
    assert "X-Organization" not in [p["name"] for p in plans.get("parameters", [])]
