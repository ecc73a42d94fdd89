"""A row and its template become StartTaskContact parameters, value by value.

``config`` (the ``[mapping]`` table), ``rules`` (problem codes and per-value rules of the field
types), ``plan`` and ``compile`` (one compiled plan per template and column set), ``mapper``.
"""
