"""Bytes to lines of text: the encoding (named, or told by a byte-order mark) and the CSV
delimiter (named, or sniffed from the header line).

UTF-8 is checked a block at a time on the raw bytes and decoded in C. Any other encoding is
first decoded block by block into UTF-8 (:class:`_Transcoded`), so that every path gives the
same lines, the same line numbers and the same errors: a file-level
:class:`~taskloader.errors.InputFileError` naming the line of the first byte that cannot be
read, after every line before it has been delivered.

A byte-order mark wins over a named encoding: a file saved as "CSV UTF-8" or "Unicode text" by
Excel says what it is.
"""

from __future__ import annotations

import codecs
import io
import zlib
from collections.abc import Iterator
from typing import IO, Any, cast

from taskloader.errors import InputFileError

#: Delimiters the header line is sniffed for, in the order that breaks a tie.
DELIMITERS = (",", "\t", ";", "|")

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_UTF8_HINT = (
    "not UTF-8 text (a file saved by Excel on Windows is usually cp1252: "
    "try --encoding cp1252, or latin-1)"
)


def canonical_encoding(name: str) -> str:
    """The codec name of ``name`` (``utf-8`` for ``utf-8-sig``); ValueError when unknown."""
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}") from None
    if codec == "utf-8-sig":
        return "utf-8"
    if not _is_text_codec(codec):
        raise ValueError(f"{name!r} is not a text encoding")
    return codec


def _is_text_codec(codec: str) -> bool:
    try:
        "a,b\n".encode(codec).decode(codec)
    except (LookupError, TypeError, ValueError):
        return False
    return True


class _Prefixed(io.RawIOBase):
    """``head`` (bytes already read to look for a byte-order mark), then the rest of ``raw``."""

    def __init__(self, head: bytes, raw: IO[bytes]) -> None:
        self._head = head
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), len(self._head))
        buffer[:n] = self._head[:n]
        self._head = self._head[n:]
        data = self._raw.read(len(buffer) - n) if n < len(buffer) else b""
        buffer[n : n + len(data)] = data
        return n + len(data)


def _sniff_encoding(raw: IO[bytes], name: str, named: str | None) -> tuple[str, IO[bytes]]:
    """(codec, the stream with nothing lost): a byte-order mark, else ``named``, else UTF-8."""
    head = b""
    while len(head) < 4:
        block = raw.read(4 - len(head))
        if not block:
            break
        head += block
    stream = cast(IO[bytes], _Prefixed(head, raw))
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, stream
    try:
        return canonical_encoding(named) if named else "utf-8", stream
    except ValueError as exc:
        raise InputFileError(name, str(exc)) from None


class _Checked(io.RawIOBase):
    """UTF-8 bytes, cut at the first line holding a NUL byte or bytes that are not UTF-8.

    Checking a block at a time keeps decoding and line splitting in C (a ``TextIOWrapper``
    reads from here). The lines before a bad one are still delivered; the next read raises an
    :class:`InputFileError` naming the bad line.
    """

    def __init__(self, raw: IO[bytes], name: str) -> None:
        self._raw = raw
        self._name = name
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._newlines = 0  # newlines delivered so far
        self._pending: InputFileError | None = None
        self._first = True

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._pending is not None:
            raise self._pending
        data = self._raw.read(len(buffer))
        bad, reason = self._first_bad(data)
        if bad >= 0:
            line = self._newlines + data.count(b"\n", 0, bad) + 1
            self._pending = InputFileError(self._name, reason, line=line)
            data = data[: data.rfind(b"\n", 0, bad) + 1]
            if not data:
                raise self._pending
        self._first = False
        self._newlines += data.count(b"\n")
        buffer[: len(data)] = data
        return len(data)

    def _first_bad(self, data: bytes) -> tuple[int, str]:
        """(index of the first bad byte in ``data`` or -1, what is wrong)."""
        nul = data.find(b"\x00")
        held = len(self._decoder.getstate()[0])  # an unfinished character from the last block
        try:
            self._decoder.decode(data if nul < 0 else data[:nul], final=not data)
        except UnicodeDecodeError as exc:
            return max(exc.start - held, 0), _UTF8_HINT
        order = _utf16_order(data) if nul >= 0 and self._first else None
        if order:
            reason = f"looks like UTF-16 without a byte-order mark: set --encoding utf-16-{order}"
            return nul, reason
        return nul, "binary content (NUL byte)"


def _utf16_order(data: bytes) -> str | None:
    """``le`` or ``be`` when most odd (or most even) bytes of the first block are NUL, as in
    mostly-ASCII text in UTF-16 without a byte-order mark; else None."""
    sample = data[:512]
    half = len(sample) // 2
    if half == 0:
        return None
    if sample[1::2].count(0) * 4 >= half * 3:
        return "le"
    if sample[0::2].count(0) * 4 >= half * 3:
        return "be"
    return None


class _Transcoded(io.RawIOBase):
    """The text of ``raw`` in ``encoding``, re-encoded as UTF-8, a block at a time.

    Bytes that are not text in ``encoding`` stop it as :class:`_Checked` does: the lines before
    are delivered, then an :class:`InputFileError` names the line.
    """

    def __init__(self, raw: IO[bytes], name: str, encoding: str) -> None:
        self._raw = raw
        self._name = name
        self._encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self._out = b""
        self._newlines = 0  # newlines decoded so far
        self._pending: InputFileError | None = None
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._out and not self._done:
            if self._pending is not None:
                raise self._pending
            self._fill()
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _fill(self) -> None:
        data = self._raw.read(1 << 16)
        held = len(self._decoder.getstate()[0])  # bytes of an unfinished character
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            good = self._decoder.decode(data[: max(exc.start - held, 0)], final=False)
            line = self._newlines + good.count("\n") + 1
            reason = f"not {self._encoding} text"
            self._pending = InputFileError(self._name, reason, line=line)
            text = good[: good.rfind("\n") + 1]
        if not data:
            self._done = self._pending is None
        self._newlines += text.count("\n")
        self._out = text.encode("utf-8", errors="surrogatepass")


class Lines:
    """Decoded lines (split at ``\\n`` only, byte-order mark dropped) of a binary stream."""

    def __init__(self, raw: IO[bytes], name: str, encoding: str | None = None) -> None:
        self.name = name
        codec, stream = _sniff_encoding(raw, name, encoding)
        self.encoding = codec
        if codec != "utf-8":  # read unbuffered: a read stops at a bad byte's line
            stream = cast(IO[bytes], _Transcoded(stream, name, codec))
        buffered = io.BufferedReader(_Checked(stream, name), buffer_size=1 << 16)
        self.lines: Iterator[str] = io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="\n")

    def failure(self, exc: BaseException, line: int) -> InputFileError | None:
        if isinstance(exc, InputFileError):
            return exc
        if isinstance(exc, (OSError, EOFError, zlib.error)):
            return InputFileError(self.name, f"cannot read: {exc}", line=line)
        return None


def sniff_delimiter(line: str) -> str:
    """The candidate delimiter found most often outside quotes in ``line`` (``,`` on a tie or
    when there is none)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])  # max keeps the first of equals
    return best if counts[best] else ","
