"""Why a user cannot act for an organization, or on its members and invitations."""

from __future__ import annotations

from core.errors import ApplicationError, RateLimited


class NoOrganization(ApplicationError):
    error_code = "NO_ORGANIZATION"
    status_code = 400
    message = "User must belong to an organization"


class OrganizationNotFound(ApplicationError):
    error_code = "ORG_NOT_FOUND"
    status_code = 404
    message = "Organization not found"


class MemberNotFound(ApplicationError):
    error_code = "MEMBER_NOT_FOUND"
    status_code = 404
    message = "Member not found"


class InvitationNotFound(ApplicationError):
    error_code = "INVITATION_NOT_FOUND"
    status_code = 404
    message = "Invitation not found"


class MemberPermissionDenied(ApplicationError):
    error_code = "MEMBER_PERMISSION_DENIED"
    status_code = 403
    message = "Your role does not allow this change to the organization's members"


class LastOwner(ApplicationError):
    error_code = "LAST_OWNER"
    status_code = 409
    message = "An organization needs an owner: make another member an owner first"


class AlreadyMember(ApplicationError):
    error_code = "ALREADY_MEMBER"
    status_code = 409
    message = "That person is already a member of this organization"


class MemberLimitReached(ApplicationError):
    error_code = "MEMBER_LIMIT_REACHED"
    status_code = 403
    message = "The organization's plan allows no more members"


class InvitationEmailMismatch(ApplicationError):
    error_code = "INVITATION_EMAIL_MISMATCH"
    status_code = 403
    message = "This invitation was sent to another e-mail address"


class InvitationInvalid(ApplicationError):
    error_code = "INVITATION_INVALID"
    status_code = 410
    message = "This invitation link is no longer valid"


class MembersRateLimited(RateLimited):
    message = "Too many changes to members; try again in a moment"


class OrganizationRequestInvalid(ApplicationError):
    """A body that misses a required field, or carries one that is not valid."""

    error_code = "VALIDATION_ERROR"
    status_code = 400
    message = "Invalid input"
