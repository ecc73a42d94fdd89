"""What to tell the user when no column of a file's header is one the mapping knows.

Such a file is refused as a whole (every row would be invalid for the same reason). The message
names the columns and the likely cause: the wrong delimiter, the wrong encoding, or no header
row at all. In that last case the "columns" are the first row's values, which may be personal
data: they are not shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Shown at most, and each cut to this many characters.
MAX_SHOWN, MAX_CHARS = 8, 40

_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe", ",": "comma"}
#: UTF-8 read as cp1252/latin-1 (Ã©, â€™, the BOM as ï»¿), a replacement character, a NUL.
_MOJIBAKE = re.compile("[ÃÂ][\u0080-\u00bf]|â€|ï»¿|\ufffd|\x00")
#: A cell that looks like a value rather than a name: an e-mail address, a URL, a date or time,
#: a long number.
_VALUE_LIKE = re.compile(
    r"@|://|\d{4}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}:\d{2}|\d{5,}", re.ASCII
)


def looks_like_data(columns: Sequence[str]) -> bool:
    """True when some of ``columns`` look like values (the file probably has no header row)."""
    return any(_VALUE_LIKE.search(c) or len(c) > 80 for c in columns)


def _shown(columns: Sequence[str]) -> str:
    cut = [c if len(c) <= MAX_CHARS else c[: MAX_CHARS - 1] + "…" for c in columns[:MAX_SHOWN]]
    more = f" and {len(columns) - MAX_SHOWN} more" if len(columns) > MAX_SHOWN else ""
    return ", ".join(repr(c) for c in cut) + more


def no_known_column(columns: Sequence[str], encoding: str | None = None) -> str:
    """The message of a header in which no column is known; ``encoding``: the one the file was
    read in, when known."""
    known = (
        "none is a conventional column (name, description, template, key, ...), a field of the "
        "template, attr.<key>/ref.<key>, or in the [mapping] table"
    )
    if looks_like_data(columns):
        return (
            f"the first row looks like data, not a header (its {len(columns)} values are not "
            f"shown): {known}. The file needs a header row naming its columns"
        )
    text = f"no known column in the header ({_shown(columns)}): {known}"
    inside = [name for d, name in _DELIMITERS.items() if any(d in c for c in columns)]
    if len(columns) == 1 and inside:
        return (
            f"{text}. The header was read as one column holding {inside[0]}s: the delimiter is "
            f"probably {inside[0]} (set --delimiter {inside[0]}, or leave --delimiter out to "
            "detect it)"
        )
    if any(_MOJIBAKE.search(c) for c in columns):
        return (
            f"{text}. The names look mis-decoded{f' (read as {encoding})' if encoding else ''}: "
            "set --encoding to the file's encoding (utf-8, cp1252, utf-16)"
        )
    return (
        f"{text}. Check the spelling, --template (the template's fields are columns) and the "
        "[mapping] table"
    )
