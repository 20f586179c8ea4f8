"""The organizations API's bodies: each success body from one output serializer, which is also
its OpenAPI description. Ids are integers, times ISO 8601 UTC."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from core.serializers import SuccessField, UtcDateTimeField
from organizations.models import Invitation, Membership

# --- Inputs (what the view reads; documented as the request bodies) ---------------------------


class OrganizationCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class MemberUpdateInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices, required=False)
    isDefault = serializers.BooleanField(required=False, help_text="Only `true`, on one's own membership.")


class InvitationCreateInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.MEMBER)


# --- Outputs ---------------------------------------------------------------------------------


class OrganizationSerializer(serializers.Serializer):
    """One of the caller's organizations; the instance is the caller's membership."""

    id = serializers.IntegerField(source="organization_id")
    name = serializers.CharField(source="organization.name")
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    isDefault = serializers.BooleanField(source="is_default")


@extend_schema_serializer(component_name="OrganizationListResponse")
class OrganizationListResponseSerializer(serializers.Serializer):
    success = SuccessField()
    data = OrganizationSerializer(many=True)  # type: ignore[assignment]


@extend_schema_serializer(component_name="OrganizationResponse")
class OrganizationResponseSerializer(serializers.Serializer):
    success = SuccessField()
    data = OrganizationSerializer()  # type: ignore[assignment]


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The membership's id.")
    userId = serializers.IntegerField(source="user_id")
    email = serializers.EmailField(source="user.email")
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    joinedAt = UtcDateTimeField(source="created_at")


@extend_schema_serializer(component_name="MemberListResponse")
class MemberListResponseSerializer(serializers.Serializer):
    success = SuccessField()
    data = MemberSerializer(many=True)  # type: ignore[assignment]


@extend_schema_serializer(component_name="MemberResponse")
class MemberResponseSerializer(serializers.Serializer):
    success = SuccessField()
    data = MemberSerializer()  # type: ignore[assignment]


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    createdAt = UtcDateTimeField(source="created_at")
    expiresAt = UtcDateTimeField(source="expires_at")
    invitedBy = serializers.SerializerMethodField(help_text="The inviter's e-mail.")

    def get_invitedBy(self, obj: Invitation) -> str | None:
        return obj.invited_by.email if obj.invited_by else None


@extend_schema_serializer(component_name="InvitationListResponse")
class InvitationListResponseSerializer(serializers.Serializer):
    success = SuccessField()
    data = InvitationSerializer(many=True)  # type: ignore[assignment]


@extend_schema_serializer(component_name="InvitationResponse")
class InvitationResponseSerializer(serializers.Serializer):
    success = SuccessField()
    data = InvitationSerializer()  # type: ignore[assignment]


@extend_schema_serializer(component_name="SuccessResponse")
class SuccessResponseSerializer(serializers.Serializer):
    success = SuccessField()


def body(serializer: type[serializers.Serializer], data: Any) -> Any:
    """`{"success": true, "data": ...}` through the envelope serializer."""
    return serializer({"data": data}).data
