"""Value formats that taskloader's checks and its emulator share: one definition, both sides.

NUMBER (a NUMBER reference, and so a template's NUMBER field). Connect's API reference says only
that the value is "A valid number" (``NumberReference.Value``, a string of 0..4,096 characters;
https://docs.aws.amazon.com/connect/latest/APIReference/API_NumberReference.html). taskloader
reads that as a JSON number (RFC 8259, section 6: an optional minus, an integer part without
leading zeros, an optional fraction with at least one digit, an optional exponent) whose value is
finite as an IEEE 754 binary64 double, the range RFC 8259 names for interoperable numbers.
So ``-12``, ``3.5``, ``0.5`` and ``1e3`` are numbers; ``+5``, ``1.``, ``.5``, ``007``, ``1e400``,
``NaN``, ``1,000`` and blanks around the digits are not. ``taskloader validate`` drops
surrounding blanks from a cell before this check and sends the text it checked.
"""

from __future__ import annotations

import math
import re

NUMBER_SOURCE = "a JSON number (RFC 8259 section 6) that is finite as a binary64 double"

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII)


def is_number(text: str) -> bool:
    """Whether ``text`` is a NUMBER reference value (see the module docstring)."""
    return _JSON_NUMBER.fullmatch(text) is not None and math.isfinite(float(text))
