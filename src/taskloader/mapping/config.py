"""The ``[mapping]`` table of the settings file, as the typed value the mapper takes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """The ``[mapping]`` section: how columns become request fields."""

    rename: Mapping[str, str] = field(default_factory=dict)  # input column -> target name
    constants: Mapping[str, str] = field(default_factory=dict)  # target name -> value
    attributes: Sequence[str] = ()  # columns sent as Attributes (key = column name)
    references: Sequence[str] = ()  # columns sent as STRING references
    ignore: Sequence[str] = ()  # columns not sent at all
    strict: bool = False  # unknown columns are row problems, not just a warning
    default_template: str | None = None  # the run-wide template (name or id)
    timezone: str | None = None  # IANA zone of date-times without a UTC offset
    date_format: str | None = None  # an extra date-time pattern (see mapping.times)
