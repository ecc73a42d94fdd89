"""The SQLite ledger of a run, and the result files written from it.

``schema`` (tables, statuses, meta), ``records`` (a row as a ledger record; the resume plan),
``reader`` (a read-only view, usable while a run writes), ``store`` (the writable ledger: open,
lock, commit), ``results`` (``succeeded.csv``, ``failed.csv``, ... and ``summary.json``).
"""
