"""The OpenAPI description of the organizations endpoints (drf-spectacular)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema

from core.openapi import CALLER_ERRORS, error_response
from organizations import serializers as s

ORGANIZATION_HEADER = OpenApiParameter(
    name="X-Organization",
    type=int,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "The id of the organization the request acts for (one of the caller's, active). Without "
        "it, the caller's default organization. Any other value: 404 `ORG_NOT_FOUND`."
    ),
)

_PERMISSION = error_response(
    "The caller's role may not do this (a member or billing role; an admin touching an owner or "
    "granting owner).",
    "MEMBER_PERMISSION_DENIED",
)
_RATE = error_response("MEMBERS_RATE exceeded; see `Retry-After`.", "RATE_LIMITED")
_VALIDATION = error_response("A body that is not JSON, or a missing or invalid field.", "VALIDATION_ERROR")
_CALLER_404 = ("USER_NOT_FOUND", "ORG_NOT_FOUND")


def _not_found(*codes: str) -> OpenApiResponse:
    return error_response(
        "The user, the organization, or the named item does not exist.", *_CALLER_404, *codes
    )


def _method(allowed: str) -> OpenApiResponse:
    return error_response(f"Any method but {allowed}.", "METHOD_NOT_ALLOWED")


def _op(operation_id: str, summary: str, description: str, **kwargs: Any) -> Any:
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        description=description,
        parameters=[ORGANIZATION_HEADER],
        tags=["organizations"],
        **kwargs,
    )


_MEMBER_EXAMPLE = {
    "id": 12,
    "userId": 7,
    "email": "ana@example.com",
    "role": "admin",
    "joinedAt": "2026-12-01T10:00:00Z",
}
_INVITATION_EXAMPLE = {
    "id": 3,
    "email": "ben@example.com",
    "role": "member",
    "createdAt": "2026-12-07T09:00:00Z",
    "expiresAt": "2026-12-14T09:00:00Z",
    "invitedBy": "ana@example.com",
}

ORGANIZATIONS_LIST = _op(
    "listOrganizations",
    "List My Organizations",
    "The caller's active organizations with their role in each; `isDefault` marks the one a "
    "request without `X-Organization` acts for.",
    request=None,
    responses={
        200: OpenApiResponse(
            s.OrganizationListResponseSerializer,
            examples=[
                OpenApiExample(
                    "Two organizations",
                    value={
                        "success": True,
                        "data": [
                            {"id": 1, "name": "Acme Inc", "role": "owner", "isDefault": True},
                            {"id": 2, "name": "Client Ltd", "role": "member", "isDefault": False},
                        ],
                    },
                )
            ],
        ),
        **CALLER_ERRORS,
        405: _method("GET and POST"),
    },
)

ORGANIZATION_CREATE = _op(
    "createOrganization",
    "Create An Organization",
    "A new organization with the caller as its owner; the caller's first organization becomes their default.",
    request=s.OrganizationCreateInputSerializer,
    responses={
        201: s.OrganizationResponseSerializer,
        **CALLER_ERRORS,
        400: _VALIDATION,
        405: _method("GET and POST"),
    },
)

MEMBERS_LIST = _op(
    "listMembers",
    "List Members",
    "The selected organization's members (any member may read them).",
    request=None,
    responses={
        200: OpenApiResponse(
            s.MemberListResponseSerializer,
            examples=[OpenApiExample("Members", value={"success": True, "data": [_MEMBER_EXAMPLE]})],
        ),
        **CALLER_ERRORS,
        405: _method("GET"),
    },
)

MEMBER_UPDATE = _op(
    "updateMember",
    "Change A Member's Role, Or One's Default Organization",
    '`{"role"}`: owners and admins (an admin neither changes an owner nor grants owner); the '
    'last owner cannot be demoted (409 `LAST_OWNER`). `{"isDefault": true}`: on one\'s own membership.',
    request=s.MemberUpdateInputSerializer,
    responses={
        200: s.MemberResponseSerializer,
        **CALLER_ERRORS,
        400: _VALIDATION,
        403: _PERMISSION,
        404: _not_found("MEMBER_NOT_FOUND"),
        405: _method("PATCH and DELETE"),
        409: error_response("The organization would have no owner.", "LAST_OWNER"),
        429: _RATE,
    },
)

MEMBER_REMOVE = _op(
    "removeMember",
    "Remove A Member, Or Leave",
    "Owners and admins remove others (an admin no owner); anyone may remove themselves (leave). "
    "Leaving one's default organization makes the oldest remaining membership the default.",
    request=None,
    responses={
        200: s.SuccessResponseSerializer,
        **CALLER_ERRORS,
        403: _PERMISSION,
        404: _not_found("MEMBER_NOT_FOUND"),
        405: _method("PATCH and DELETE"),
        409: error_response("The last owner can neither leave nor be removed.", "LAST_OWNER"),
        429: _RATE,
    },
)

INVITATIONS_LIST = _op(
    "listInvitations",
    "List Pending Invitations",
    "The selected organization's pending invitations (owners and admins).",
    request=None,
    responses={
        200: OpenApiResponse(
            s.InvitationListResponseSerializer,
            examples=[OpenApiExample("Pending", value={"success": True, "data": [_INVITATION_EXAMPLE]})],
        ),
        **CALLER_ERRORS,
        403: _PERMISSION,
        405: _method("GET and POST"),
    },
)

INVITATION_CREATE = _op(
    "createInvitation",
    "Invite Someone By E-mail",
    "E-mails a single-use link (`SITE_URL/invitations/<token>/`, valid 7 days). `201` for a new "
    "invitation; `200` when one is already pending for that e-mail: it is re-sent with a fresh link "
    "and the earlier link stops working. Only owners invite owners.",
    request=s.InvitationCreateInputSerializer,
    responses={
        201: OpenApiResponse(
            s.InvitationResponseSerializer,
            examples=[OpenApiExample("Invited", value={"success": True, "data": _INVITATION_EXAMPLE})],
        ),
        200: s.InvitationResponseSerializer,
        **CALLER_ERRORS,
        400: _VALIDATION,
        403: error_response(
            "The caller's role may not invite (or not an owner); or over the plan's member limit.",
            "MEMBER_PERMISSION_DENIED",
            "MEMBER_LIMIT_REACHED",
        ),
        405: _method("GET and POST"),
        409: error_response("That e-mail is already a member.", "ALREADY_MEMBER"),
        429: _RATE,
    },
)

INVITATION_REVOKE = _op(
    "revokeInvitation",
    "Revoke An Invitation",
    "Its link stops working.",
    request=None,
    responses={
        200: s.SuccessResponseSerializer,
        **CALLER_ERRORS,
        403: _PERMISSION,
        404: _not_found("INVITATION_NOT_FOUND"),
        405: _method("DELETE"),
    },
)

INVITATION_ACCEPT = _op(
    "acceptInvitation",
    "Accept An Invitation",
    "Join the organization that invited the caller's e-mail (case-insensitive), with the "
    "invitation's role. `X-Organization`, if sent, must still name one of the caller's organizations.",
    request=None,
    responses={
        200: s.MemberResponseSerializer,
        **CALLER_ERRORS,
        403: error_response("The invitation was sent to another e-mail.", "INVITATION_EMAIL_MISMATCH"),
        405: _method("POST"),
        410: error_response(
            "The token names no pending invitation (expired, revoked, used, never issued).",
            "INVITATION_INVALID",
        ),
        429: _RATE,
    },
)


def organization_header_hook(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Document `X-Organization` on every `/subscriptions/...` operation that requires a token
    (the organizations endpoints carry it already): it is read by the API's authentication,
    not by each view."""
    parameter = {
        "in": "header",
        "name": ORGANIZATION_HEADER.name,
        "required": False,
        "schema": {"type": "integer"},
        "description": ORGANIZATION_HEADER.description,
    }
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/subscriptions"):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            security = operation.get("security") or []
            if not security or {} in security:  # no token, or an optional one
                continue
            parameters = operation.setdefault("parameters", [])
            if not any(p.get("in") == "header" and p.get("name") == parameter["name"] for p in parameters):
                parameters.append(dict(parameter))
    return result
