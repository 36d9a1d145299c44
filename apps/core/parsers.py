"""The API's JSON parser: request bodies are hostile input, so nesting is bounded before
Python's parser recurses (DRF's own parser answers a deeply nested body with a 500)."""

import codecs

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .jsonsafe import JsonTooDeep, json_loads_bounded


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
            return json_loads_bounded(text)
        except JsonTooDeep as exc:
            raise ParseError(f"JSON parse error: {exc}") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
