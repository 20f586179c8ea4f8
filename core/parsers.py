"""The API's JSON parser: a body nested too deep for Python's decoder is the client's mistake.

`json.loads` raises RecursionError (not ValueError) on, say, 100,000 nested arrays; DRF's
parser lets it through, and it would end as a 500. Here it is a 400 VALIDATION_ERROR.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as e:
            raise exceptions.ValidationError({"non_field_errors": ["JSON nested too deeply"]}) from e
