"""Decoding of Stripe's form-encoded parameters.

Stripe (API v1) takes ``application/x-www-form-urlencoded`` bodies and query
strings with a bracket syntax for nesting::

    metadata[organization_id]=5          -> {"metadata": {"organization_id": "5"}}
    expand[]=customer&expand[]=items     -> {"expand": ["customer", "items"]}
    expand[0]=customer                   -> {"expand": ["customer"]}
    items[0][price]=price_1&items[0][quantity]=2
                                         -> {"items": [{"price": "price_1", "quantity": "2"}]}

All leaf values stay strings, exactly as they arrive on the wire.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")

# Keys whose children are free-form names, never list indexes.
_FREE_FORM_KEYS = frozenset({"metadata"})


class FormError(ValueError):
    """A parameter name or structure that cannot be decoded."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def parse_form(text: str) -> dict[str, Any]:
    """Decode a query string or form body into nested dicts and lists."""
    root: dict[str, Any] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        match = _KEY.match(name)
        if match is None:
            raise FormError(f"Invalid parameter name: {name}", name)
        path = [match.group(1), *_SEGMENT.findall(match.group(2))]
        _insert(root, path, value, name)
    decoded: dict[str, Any] = _listify(root, parent="")
    return decoded


def _insert(root: dict[str, Any], path: list[str], value: str, name: str) -> None:
    node = root
    for depth, key in enumerate(path):
        if key == "":  # "[]" appends
            key = str(len(node))
        if depth == len(path) - 1:
            if isinstance(node.get(key), dict):
                raise FormError(f"Invalid value for {name}: expected a hash", name)
            node[key] = value
            return
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            # e.g. "metadata=&metadata[a]=1": an empty string then a hash.
            if child != "":
                raise FormError(f"Invalid hash for {name}", name)
            child = node[key] = {}
        node = child


def _listify(node: dict[str, Any], parent: str) -> Any:
    """Turn dicts keyed "0", "1", ... into lists (except free-form maps)."""
    converted = {
        key: _listify(value, key) if isinstance(value, dict) else value for key, value in node.items()
    }
    if parent and parent not in _FREE_FORM_KEYS and converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted
