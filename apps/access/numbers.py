"""Credential numbers as they are stored and looked up: one spelling per badge, PIN or plate,
whatever the reader, the keyboard or the plate OCR sent."""

import re
import unicodedata

from .choices import CredentialKind
from .models import CREDENTIAL_NUMBER_MAX

_BADGE = re.compile(r"[0-9A-Z]+")
_PIN = re.compile(r"[0-9]{4,12}")
# Plates: Latin letters and digits, and the CJK characters of Chinese plates (the province
# abbreviation 京, 粤 …, and 警, 学, 挂, 港 …): any CJK unified ideograph is let through.
_PLATE = re.compile(r"[0-9A-Z\u4e00-\u9fff]+")
# Separators people and OCR put inside plates: spaces, dashes and the middle dot of 京A·12345.
_PLATE_SEPARATORS = str.maketrans("", "", " -\u00b7\u2010\u2011\u2012\u2013\u2014\u2212\u30fb")


def number_normalise(kind: str, number: str) -> str:
    """The stored spelling of `number` for a credential of `kind`; ValueError naming the problem
    when it cannot be one.

    badge: letters A-Z and digits, spaces dropped, upper-cased; pin: 4 to 12 digits;
    plate: letters A-Z, digits and CJK characters, spaces, dashes and middle dots dropped,
    upper-cased. Full-width letters and digits are read as their ASCII letters and digits."""
    if not isinstance(number, str):
        raise ValueError("the number must be a string")
    if len(number) > CREDENTIAL_NUMBER_MAX:
        raise ValueError(f"the number is longer than {CREDENTIAL_NUMBER_MAX} characters")
    if any(unicodedata.category(char) in ("Cc", "Cf", "Cs") for char in number):
        raise ValueError("the number holds control or invisible characters")
    if kind == CredentialKind.BADGE:
        value = unicodedata.normalize("NFKC", number).replace(" ", "").upper()
        _require(value, _BADGE, "a badge number may hold only letters A-Z and digits")
    elif kind == CredentialKind.PIN:
        value = number
        if not _PIN.fullmatch(value):
            raise ValueError("a PIN is 4 to 12 digits (0-9)")
    elif kind == CredentialKind.PLATE:
        value = unicodedata.normalize("NFKC", number).translate(_PLATE_SEPARATORS).upper()
        _require(
            value, _PLATE, "a licence plate may hold only letters A-Z, digits and CJK characters"
        )
    else:
        raise ValueError(f"unknown credential kind {kind!r}")
    if len(value) > CREDENTIAL_NUMBER_MAX:
        raise ValueError(f"the number is longer than {CREDENTIAL_NUMBER_MAX} characters")
    return value


def _require(value: str, pattern: re.Pattern, message: str) -> None:
    if not value:
        raise ValueError("the number is empty")
    if not pattern.fullmatch(value):
        raise ValueError(message)
