"""The bench stops unless the app and the hand-written server give the same answer."""

from __future__ import annotations

from typing import Any

import pytest

from bench.__main__ import answers_match
from bench.report import PORTAL, READS

MY: dict[str, Any] = {
    "success": True,
    "data": {"name": "Pro", "price": 4900, "capabilities": [{"code": "PROJECTS", "value": 1}]},
}


def test_a_read_matches_only_the_same_json_key_for_key() -> None:
    endpoint = READS["my"]
    assert answers_match(endpoint, (200, MY), (200, {"data": MY["data"], "success": True}))
    changed = {"success": True, "data": {**MY["data"], "price": 4901}}
    assert not answers_match(endpoint, (200, MY), (200, changed))
    extra = {**MY, "message": "No subscription found"}
    assert not answers_match(endpoint, (200, MY), (200, extra))


@pytest.mark.parametrize("statuses", [(200, 404), (403, 200), (500, 500)])
def test_anything_but_two_200s_is_no_match(statuses: tuple[int, int]) -> None:
    assert not answers_match(READS["my"], (statuses[0], MY), (statuses[1], MY))


def test_the_portal_matches_two_sessions_on_the_same_host() -> None:
    app = {"success": True, "url": "http://127.0.0.1:9/p/session/bps_1"}
    hand = {"success": True, "url": "http://127.0.0.1:9/p/session/bps_2"}
    assert answers_match(PORTAL, (200, app), (200, hand))
    assert not answers_match(PORTAL, (200, app), (200, {**hand, "url": "http://elsewhere/p/session/x"}))
    assert not answers_match(PORTAL, (200, app), (200, {**hand, "success": False}))
    assert not answers_match(PORTAL, (200, app), (200, {"url": hand["url"]}))
    # The same URL twice is not two sessions: one server did not call Stripe.
    assert not answers_match(PORTAL, (200, app), (200, app))
