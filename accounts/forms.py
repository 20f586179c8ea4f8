from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts.errors import LoginRateLimited
from accounts.models import User
from core.errors import retry_after_seconds


class _RateLimitedLogin:
    """Turns a refused attempt into a form error; `rate_limited` tells the view to answer 429."""

    rate_limited: LoginRateLimited | None = None

    def clean(self) -> Any:
        try:
            return super().clean()  # type: ignore[misc]
        except LoginRateLimited as e:
            self.rate_limited = e
            seconds = retry_after_seconds(e.retry_after)
            raise ValidationError(
                "Too many login attempts. Please wait %(seconds)s seconds and try again.",
                code="rate_limited",
                params={"seconds": seconds},
            ) from e


class LoginForm(_RateLimitedLogin, AuthenticationForm):
    pass


class AdminLoginForm(_RateLimitedLogin, AdminAuthenticationForm):
    pass


class SignupForm(forms.Form):
    """A new account: an e-mail not taken yet (case-insensitive) and a password that passes
    the password validators, typed twice."""

    email = forms.EmailField(max_length=254)
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="Password again", strip=False, widget=forms.PasswordInput)

    def clean_email(self) -> str:
        email = str(self.cleaned_data["email"]).strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError("An account with this e-mail already exists: log in instead.", code="taken")
        return email

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", ValidationError("The two passwords differ.", code="mismatch"))
        elif first:
            try:
                password_validation.validate_password(first, User(email=cleaned.get("email", "")))
            except ValidationError as e:
                self.add_error("password1", e)
        return cleaned
