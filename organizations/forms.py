from __future__ import annotations

from django import forms

from accounts.forms import SignupForm


class OrganizationSignupForm(SignupForm):
    """Sign-up from the login page: the account and the name of its first organization."""

    organization = forms.CharField(label="Organization name", max_length=200)

    def clean_organization(self) -> str:
        name = str(self.cleaned_data["organization"]).strip()
        if not name:
            raise forms.ValidationError("Give your organization a name.", code="required")
        return name
