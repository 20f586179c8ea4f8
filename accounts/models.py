from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        if not extra["is_staff"] or not extra["is_superuser"]:
            raise ValueError("A superuser must have is_staff=True and is_superuser=True.")
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        # Logins are case-insensitive: addresses are stored lower-cased.
        return self.get(email=(username or "").lower())


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an email address (there is no username)."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # In every JWT issued to the user (claim `ver`); a token of another version is refused.
    # Raised by a password change and by a deactivation: every token issued before is revoked.
    token_version = models.PositiveIntegerField(default=0, editable=False)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ("email",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._was_active = self.is_active

    def __str__(self) -> str:
        return self.email

    def revoke_tokens(self) -> None:
        """Revoke every token issued so far (saved with the user's next `save()`)."""
        self.token_version += 1

    def set_password(self, raw_password: str | None) -> None:
        super().set_password(raw_password)
        if self.pk is not None:  # a change, not the first password of a new user
            self.revoke_tokens()

    def check_password(self, raw_password: str | None) -> bool:
        # Django re-hashes a password whose hasher settings changed through set_password():
        # the same password, so no revocation, and only the hash is saved.
        def rehash(raw: str | None) -> None:
            AbstractBaseUser.set_password(self, raw)
            self._password = None
            self.save(update_fields=["password"])

        return check_password(raw_password, self.password, rehash)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._was_active and not self.is_active and self.pk is not None:
            self.revoke_tokens()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"password", "is_active"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "token_version"}
        super().save(*args, **kwargs)
        self._was_active = self.is_active
