"""The SQLite ledger of a run, and the result files written from it.

``schema`` (tables, statuses, meta), ``records`` (a row as a ledger record; the resume plan),
``reader`` (a read-only view, usable while a run writes), ``store`` (the writable ledger: open,
lock, commit), ``integrity`` (a damaged ledger is never taken for a new one), ``target`` (the
instance and input a ledger belongs to), ``results`` (``succeeded.csv``, ... and
``summary.json``, named per ledger), ``atomic`` (files written whole).
"""
