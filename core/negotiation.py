"""Content negotiation: DRF's, with the usual request answered without parsing `Accept`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer


class FastContentNegotiation(DefaultContentNegotiation):
    """No `Accept`, `*/*`, or exactly the first renderer's media type: that renderer, as DRF's
    negotiation would choose it. Anything else goes through DRF's (406 when nothing fits)."""

    def select_renderer(
        self, request: Any, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> Any:
        renderers = list(renderers)
        accept = request.META.get("HTTP_ACCEPT")
        first = renderers[0]
        if not accept or accept == "*/*" or accept == first.media_type:
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
