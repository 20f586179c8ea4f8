from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt import views as jwt_views

from accounts import openapi
from accounts.forms import LoginForm
from core.api_errors import retry_after_header


class LoginView(auth_views.LoginView):
    """Django's login page; a rate-limited attempt is shown on the form and answered 429."""

    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        response = super().form_invalid(form)
        if form.rate_limited is not None:
            response.status_code = 429
            response["Retry-After"] = retry_after_header(form.rate_limited.retry_after)
        return response


class _NoStore:
    """Tokens are credentials: no cache may keep an answer that carries them (nor any other)."""

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        response["Cache-Control"] = "no-store"
        return response


@method_decorator(openapi.TOKEN_OBTAIN, name="post")
class TokenObtainPairView(_NoStore, jwt_views.TokenObtainPairView):
    pass


@method_decorator(openapi.TOKEN_REFRESH, name="post")
class TokenRefreshView(_NoStore, jwt_views.TokenRefreshView):
    pass


@method_decorator(openapi.TOKEN_BLACKLIST, name="post")
class TokenBlacklistView(_NoStore, jwt_views.TokenBlacklistView):
    pass
