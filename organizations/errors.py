"""Why a user cannot act for an organization: the first checks of every organization's request."""

from __future__ import annotations

from core.errors import ApplicationError


class NoOrganization(ApplicationError):
    error_code = "NO_ORGANIZATION"
    status_code = 400
    message = "User must belong to an organization"


class OrganizationNotFound(ApplicationError):
    error_code = "ORG_NOT_FOUND"
    status_code = 404
    message = "Organization not found"
