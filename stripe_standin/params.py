"""Parameter checks with Stripe's messages, and list pagination.

Endpoints call these on the decoded form (``forms.parse_form``): each raises the
``ApiError`` Stripe answers for that mistake (unknown, missing or invalid parameter).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from stripe_standin import core, errors


def allow(params: dict[str, Any], *names: str) -> dict[str, Any]:
    for name in params:
        if name not in names:
            raise errors.unknown_parameter(name)
    return params


def str_param(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise errors.invalid_parameter(name, f"Invalid string: {value!r}")
    return value


def metadata_param(params: dict[str, Any]) -> dict[str, str]:
    value = params.get("metadata")
    if value is None or value == "":
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise errors.invalid_parameter("metadata", "Invalid hash")
    return dict(value)


def limit_param(query: dict[str, Any]) -> int:
    raw = query.get("limit", "10")
    if not isinstance(raw, str) or not raw.isdigit():
        raise errors.invalid_parameter("limit", f"Invalid integer: {raw}", code="parameter_invalid_integer")
    if not 1 <= int(raw) <= 100:
        raise errors.invalid_parameter(
            "limit", "This value must be between 1 and 100.", code="parameter_invalid_integer"
        )
    return int(raw)


def changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``previous_attributes``: the old values of the top-level fields that changed."""
    return {key: old.get(key) for key in new if old.get(key) != new[key]}


def newest_first(objects: Any) -> list[dict[str, Any]]:
    return [
        o for _, o in sorted(enumerate(objects), key=lambda pair: (pair[1]["created"], pair[0]), reverse=True)
    ]


def paginate(matching: list[dict[str, Any]], query: dict[str, Any], url: str) -> dict[str, Any]:
    limit = limit_param(query)
    ids = [o.get("id") for o in matching]
    if (after := str_param(query, "starting_after")) is not None:
        if after not in ids:
            raise errors.no_such("object", after, param="starting_after", status=400)
        matching = matching[ids.index(after) + 1 :]
    elif (before := str_param(query, "ending_before")) is not None:
        if before not in ids:
            raise errors.no_such("object", before, param="ending_before", status=400)
        matching = matching[: ids.index(before)][-limit:]
    return core.list_object(matching[:limit], url, has_more=len(matching) > limit)


def page_in_order(
    order: list[str],
    place: dict[str, int],
    matching: Callable[[Iterable[str]], Iterator[dict[str, Any]]],
    query: dict[str, Any],
    url: str,
) -> dict[str, Any]:
    """A page of a list kept as ids in order: it costs what it scans, not the whole list.
    `matching` turns ids into the objects the query keeps."""
    limit = limit_param(query)
    after, before = str_param(query, "starting_after"), str_param(query, "ending_before")
    for name, cursor in (("starting_after", after), ("ending_before", before)):
        if cursor is not None and cursor not in place:
            raise errors.no_such("object", cursor, param=name, status=400)
    if after in place:
        found = list(itertools.islice(matching(itertools.islice(order, place[after] + 1, None)), limit + 1))
    elif before in place:
        found = list(itertools.islice(matching(reversed(order[: place[before]])), limit))[::-1]
        return core.list_object(found, url, has_more=False)
    else:
        found = list(itertools.islice(matching(order), limit + 1))
    return core.list_object(found[:limit], url, has_more=len(found) > limit)


def created_matches(created: int, query: dict[str, Any]) -> bool:
    value = query.get("created")
    if value is None:
        return True
    if isinstance(value, str):
        return created == int_param(query, "created", "created")
    if not isinstance(value, dict):
        raise errors.invalid_parameter("created", "Invalid hash", code="parameter_invalid_object")
    for op in value:
        if op not in ("gt", "gte", "lt", "lte"):
            raise errors.unknown_parameter(f"created[{op}]")
    checks = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
    for op in value:
        bound = int_param(value, op, f"created[{op}]")
        if bound is not None and not checks[op](created, bound):
            return False
    return True


def int_param(params: Any, name: str, param: str, *, minimum: int | None = None) -> int | None:
    value = params.get(name) if isinstance(params, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not re.fullmatch(r"-?\d+", str(value)):
        raise errors.invalid_parameter(param, f"Invalid integer: {value}", code="parameter_invalid_integer")
    number = int(value)
    if minimum is not None and number < minimum:
        raise errors.invalid_parameter(
            param, f"This value must be greater than or equal to {minimum}.", code="parameter_invalid_integer"
        )
    return number


def bool_param(params: dict[str, Any], name: str, default: bool | None) -> bool | None:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise errors.invalid_parameter(name, f"Invalid boolean: {value}", code="parameter_invalid_boolean")


def update_metadata(target: dict[str, Any], params: dict[str, Any]) -> None:
    """Stripe's metadata update: merge, an empty value unsets a key, ``metadata=""`` clears all."""
    if "metadata" not in params:
        return
    if params["metadata"] == "":
        target["metadata"] = {}
        return
    metadata = dict(target.get("metadata") or {})
    for key, value in metadata_param(params).items():
        if value == "":
            metadata.pop(key, None)
        else:
            metadata[key] = value
    target["metadata"] = metadata


def check_url(url: str, param: str) -> None:
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise errors.invalid_parameter(param, "Not a valid URL", code="url_invalid")
