"""Checks of mapped rows: request rules against the template and the API limits, cross-row
checks with bounded memory, and the compiled record check of the dry-run fast path.

``request`` (check one request; ``check_row`` maps and checks a row), ``spill`` (duplicate keys
on disk past a million), ``compiled`` (a check compiled per template and header).
"""
