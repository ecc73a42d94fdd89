"""The exception tree. Every error carries its context; the constructor builds the message.

    TaskloaderError                 base; ``exit_code`` is what the CLI exits with
    ├── UsageError                  bad settings, flags or config file          (exit 2)
    ├── InputFileError              a file-level input problem: file + position (exit 2)
    ├── LedgerError                 the ledger cannot be used                   (exit 2)
    │   ├── LedgerMismatchError     input changed since the ledger was started
    │   ├── LedgerOtherInputError   the ledger belongs to another input
    │   ├── LedgerTargetError       the ledger belongs to another instance/Region/endpoint
    │   ├── LedgerDamagedError      empty, lost or foreign -wal, missing table or meta row
    │   └── LedgerLockedError       another run holds the ledger
    ├── StoppedError                stopped (a signal) before anything was sent  (exit 3)
    └── FatalApiError               the run cannot go on: credentials, access,
                                    unknown instance                            (exit 4)

Row-level problems are not exceptions: they are :class:`taskloader.checks.request.Problem`
values recorded in the ledger, and the run goes on.
"""

from __future__ import annotations


class TaskloaderError(Exception):
    exit_code = 2


class UsageError(TaskloaderError):
    """A setting, flag or configuration file is wrong."""


class InputFileError(TaskloaderError):
    """A problem with a whole input file (not with one row)."""

    def __init__(self, source: str, message: str, *, line: int | None = None) -> None:
        self.source = source
        self.line = line
        self.reason = message
        where = f"{source}, line {line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class LedgerError(TaskloaderError):
    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.reason = message
        super().__init__(f"ledger {path}: {message}")


class LedgerMismatchError(LedgerError):
    """The input file's fingerprint differs from the one the ledger was started with."""


class LedgerOtherInputError(LedgerError):
    """The ledger was started for another input (another file name and content)."""


class LedgerTargetError(LedgerError):
    """The ledger was started against another instance, Region or endpoint."""


class LedgerDamagedError(LedgerError):
    """The ledger file is damaged or incomplete; it must not be mistaken for a new one."""


class LedgerLockedError(LedgerError):
    """Another live run holds this ledger."""


class StoppedError(TaskloaderError):
    """The run was asked to stop before it sent anything (nothing to resume but the start)."""

    exit_code = 3


class FatalApiError(TaskloaderError):
    """An API error that no retry or other row can fix (credentials, access, unknown instance)."""

    exit_code = 4

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.reason = message
        hint = _FATAL_HINTS.get(code)
        super().__init__(f"{code}: {message}" + (f" ({hint})" if hint else ""))


#: What to check for the fatal errors that are most often a setting, not a fault.
_FATAL_HINTS = {
    # fatal only when the instance itself is not found (connect/retry.py)
    "ResourceNotFoundException": "check the Region (--region) and the instance id: an instance "
    "exists in one Region only",
    "ExpiredTokenException": "the session token has expired: refresh the credentials",
    "ExpiredToken": "the session token has expired: refresh the credentials",
    "InvalidSignatureException": "check the secret access key and the computer's clock",
    "UnrecognizedClientException": "the access key or session token is not known: check the "
    "credentials",
}
