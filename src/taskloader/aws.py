"""How to reach AWS: the profile, Region, endpoint and timeouts every client of a run shares.

A core value, built once from the settings at the command line's edge
(:func:`taskloader.run.options.aws_options`) and handed to the Connect and S3 clients.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AwsOptions:
    profile: str | None = None
    region: str | None = None
    #: the Amazon Connect endpoint (the emulator, in tests); S3 takes its endpoint from botocore
    connect_endpoint: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
