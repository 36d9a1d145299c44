"""The API's JSON parser: request bodies are hostile input, so nesting is bounded before
Python's parser recurses (DRF's own parser answers a deeply nested body with a 500), and
strings no text can hold (NUL, lone surrogates) are refused before a view or serializer sees
them (a surrogate echoed in an error message, or stored in a JSON column, was a 500)."""

import codecs

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .jsonsafe import JsonBadText, JsonTooDeep, json_loads_bounded


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
            return json_loads_bounded(text)
        except JsonTooDeep as exc:
            raise ParseError(f"JSON parse error: {exc}") from None
        except JsonBadText as exc:  # named at its field, as a serializer would
            if exc.field is None:
                raise ParseError(f"JSON parse error - {exc}") from None
            raise ParseError({exc.field: [f"the text {exc.reason}"]}) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
