"""OpenAPI description of our JWT authentication (drf-spectacular knows simplejwt's own class
only, not our subclass)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class JWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.JWTAuthentication"
    match_subclasses = True  # the API's authentication adds the organization header to it
