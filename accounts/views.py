from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpResponse

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
