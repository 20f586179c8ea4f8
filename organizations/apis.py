"""The organizations JSON API: thin views over `organizations.services` and `.selectors`.

Every view resolves the organization the request acts for (`X-Organization`, else the
caller's default) through the one selector the billing API uses; errors are raised and
answered in the envelope by the shared exception handler.
"""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from core.api import BaseApi
from organizations import openapi, selectors, services
from organizations import serializers as out
from organizations.errors import OrganizationRequestInvalid

NO_STORE = {"Cache-Control": "no-store"}


def _json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object (a body that is not JSON raises 400 VALIDATION_ERROR)."""
    if request._request.body and "json" not in (request.content_type or "").lower():
        raise OrganizationRequestInvalid("The request body must be JSON")
    data = request.data
    if not isinstance(data, dict) or isinstance(data, QueryDict):
        raise OrganizationRequestInvalid("The request body must be a JSON object")
    return data


class OrganizationListCreateApi(BaseApi):
    """GET /organizations: the caller's organizations; POST: create one (owner)."""

    http_method_names = ["get", "post"]
    internal_error_message = "Failed to process the organizations request"

    @openapi.ORGANIZATIONS_LIST
    def get(self, request: Request) -> Response:
        user: User = request.user  # type: ignore[assignment]
        selectors.organization_choice_check(user=user)
        memberships = selectors.memberships_active(user=user)
        return Response(out.body(out.OrganizationListResponseSerializer, memberships), headers=NO_STORE)

    @openapi.ORGANIZATION_CREATE
    def post(self, request: Request) -> Response:
        user: User = request.user  # type: ignore[assignment]
        selectors.organization_choice_check(user=user)
        membership = services.organization_create(user=user, name=_json_object(request).get("name"))
        return Response(
            out.body(out.OrganizationResponseSerializer, membership), status=201, headers=NO_STORE
        )


class MemberListApi(BaseApi):
    """GET /organizations/members: the selected organization's members."""

    http_method_names = ["get"]
    internal_error_message = "Failed to list members"

    @openapi.MEMBERS_LIST
    def get(self, request: Request) -> Response:
        actor = selectors.organization_membership_get(user=request.user)  # type: ignore[arg-type]
        members = selectors.members_list(organization_id=actor.organization_id)
        return Response(out.body(out.MemberListResponseSerializer, members), headers=NO_STORE)


class MemberDetailApi(BaseApi):
    """PATCH /organizations/members/{id}: role or own default; DELETE: remove or leave."""

    http_method_names = ["patch", "delete"]
    internal_error_message = "Failed to change the member"

    @openapi.MEMBER_UPDATE
    def patch(self, request: Request, membership_id: str) -> Response:
        actor = selectors.organization_membership_get(user=request.user)  # type: ignore[arg-type]
        data = _json_object(request)
        member = services.member_update(
            actor=actor, membership_id=membership_id, role=data.get("role"), is_default=data.get("isDefault")
        )
        return Response(out.body(out.MemberResponseSerializer, member), headers=NO_STORE)

    @openapi.MEMBER_REMOVE
    def delete(self, request: Request, membership_id: str) -> Response:
        actor = selectors.organization_membership_get(user=request.user)  # type: ignore[arg-type]
        services.member_remove(actor=actor, membership_id=membership_id)
        return Response(out.SuccessResponseSerializer({}).data, headers=NO_STORE)


class InvitationListCreateApi(BaseApi):
    """GET /organizations/invitations: pending invitations; POST: invite by e-mail."""

    http_method_names = ["get", "post"]
    internal_error_message = "Failed to process the invitations request"

    @openapi.INVITATIONS_LIST
    def get(self, request: Request) -> Response:
        actor = selectors.organization_membership_get(user=request.user)  # type: ignore[arg-type]
        services.invitations_visible_check(actor=actor)
        invitations = selectors.invitations_pending(organization_id=actor.organization_id)
        return Response(out.body(out.InvitationListResponseSerializer, invitations), headers=NO_STORE)

    @openapi.INVITATION_CREATE
    def post(self, request: Request) -> Response:
        actor = selectors.organization_membership_get(user=request.user)  # type: ignore[arg-type]
        data = _json_object(request)
        result = services.invitation_create(actor=actor, email=data.get("email"), role=data.get("role"))
        return Response(
            out.body(out.InvitationResponseSerializer, result.invitation),
            status=201 if result.created else 200,
            headers=NO_STORE,
        )


class InvitationRevokeApi(BaseApi):
    """DELETE /organizations/invitations/{id}: revoke; its link stops working."""

    http_method_names = ["delete"]
    internal_error_message = "Failed to revoke the invitation"

    @openapi.INVITATION_REVOKE
    def delete(self, request: Request, invitation_id: str) -> Response:
        actor = selectors.organization_membership_get(user=request.user)  # type: ignore[arg-type]
        services.invitation_revoke(actor=actor, invitation_id=invitation_id)
        return Response(out.SuccessResponseSerializer({}).data, headers=NO_STORE)


class InvitationAcceptApi(BaseApi):
    """POST /invitations/{token}/accept: join as the invited e-mail."""

    http_method_names = ["post"]
    internal_error_message = "Failed to accept the invitation"

    @openapi.INVITATION_ACCEPT
    def post(self, request: Request, token: str) -> Response:
        user: User = request.user  # type: ignore[assignment]
        selectors.organization_choice_check(user=user)
        membership = services.invitation_accept(user=user, token=token)
        return Response(out.body(out.MemberResponseSerializer, membership), headers=NO_STORE)
