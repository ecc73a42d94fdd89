"""Everything that talks to Amazon Connect: the client, pacing, retries, the quota gate.

``client`` (the long-lived async client, botocore retries off), ``pacing`` (the exact token
bucket), ``retry`` (classify an outcome, retry with backoff), ``quota_gate`` (pause every sender
while the active-task quota is full).
"""
