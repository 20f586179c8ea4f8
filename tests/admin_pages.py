"""The admin's pages, as the admin tests of every app drive them."""

from __future__ import annotations

from html.parser import HTMLParser

from django.contrib import admin
from django.test import Client
from django.urls import reverse

REGISTERED: list[tuple[str, str]] = sorted(
    (model._meta.app_label, str(model._meta.model_name)) for model in admin.site._registry
)


def registered(app_label: str) -> list[str]:
    return [model_name for label, model_name in REGISTERED if label == app_label]


def assert_admin_pages_load(admin_client: Client, app_label: str, model_name: str) -> None:
    """Changelist (also searched), add (or its 403 where adding is not allowed) and change page
    of the model's first object all answer a superuser."""
    model = next(
        m for m in admin.site._registry if (m._meta.app_label, m._meta.model_name) == (app_label, model_name)
    )
    changelist = admin_client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert changelist.status_code == 200, changelist.content[:500]
    search = admin_client.get(reverse(f"admin:{app_label}_{model_name}_changelist"), {"q": "acme"})
    assert search.status_code == 200
    model_admin = admin.site._registry[model]
    add = admin_client.get(reverse(f"admin:{app_label}_{model_name}_add"))
    expected_add = 200 if model_admin.has_add_permission(add.wsgi_request) else 403
    assert add.status_code == expected_add
    obj = model._default_manager.first()
    assert obj is not None, f"no {model_name} to open: the `populated` fixture should make one"
    change = admin_client.get(reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk]))
    assert change.status_code == 200, change.content[:500]


class _FormFields(HTMLParser):
    """What a browser would submit from the admin's change form (inputs, selects, textareas)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "checkbox", "file"):
            self.data[name] = a.get("value", "")
        elif tag == "input" and name and a.get("type") == "checkbox" and "checked" in a:
            self.data[name] = a.get("value", "on")
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += data


def form_data(response) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(response.content.decode())
    return parser.data
