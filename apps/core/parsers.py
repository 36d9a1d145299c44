"""The API's JSON parser: request bodies are hostile input, so nesting is bounded before
Python's parser recurses (DRF's own parser answers a deeply nested body with a 500), and
strings no text can hold (NUL, lone surrogates) are refused before a view or serializer sees
them (a surrogate echoed in an error message, or stored in a JSON column, was a 500). JSON is
UTF-8 (RFC 8259): any other `charset=` is a 415 (a codec such as bz2_codec decompressed the
body in memory before failing, and unicode_escape turned `\\ud800` into a raw surrogate)."""

from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser

from .jsonsafe import JsonBadText, JsonTooDeep, json_loads_bounded

UTF8_NAMES = ("utf-8", "utf8")


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = str(parser_context.get("encoding") or "utf-8")
        if encoding.lower().replace("_", "-") not in UTF8_NAMES:
            raise UnsupportedMediaType(
                media_type, detail=f"JSON must be UTF-8, not charset={encoding[:40]!r}"
            )
        try:
            text = stream.read().decode("utf-8")
            return json_loads_bounded(text)
        except JsonTooDeep as exc:
            raise ParseError(f"JSON parse error: {exc}") from None
        except JsonBadText as exc:  # named at its field, as a serializer would
            if exc.field is None:
                raise ParseError(f"JSON parse error - {exc}") from None
            raise ParseError({exc.field: [f"the text {exc.reason}"]}) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
