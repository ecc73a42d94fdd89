"""The alternative users would write: boto3 + ThreadPoolExecutor(16), botocore's own retries.

Reads the same CSV as taskloader (the Callback rows of scripts/reliability/harness.py), maps
each row to StartTaskContact by hand and sends it; botocore fills in a ClientToken per call.
Prints one JSON line: rows ok/failed, wall and per-row latency (the call, retries included).

    threadpool_import.py INPUT --endpoint-url URL --instance-id ID [--retry-mode adaptive]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config

TEMPLATE_ID = "aaaaaaaa-0000-4000-8000-000000000001"  # config/templates/callback.json
FIELDS = {
    "Customer name": "STRING",
    "Account number": "NUMBER",
    "Email": "EMAIL",
    "VIP": "STRING",
    "Reason": "STRING",
    "Case link": "URL",
}


def params(row: dict[str, str], instance_id: str) -> dict[str, Any]:
    refs = {k: {"Value": row[k], "Type": t} for k, t in FIELDS.items() if row.get(k)}
    attrs = {k[5:]: v for k, v in row.items() if k.startswith("attr.") and v}
    return {
        "InstanceId": instance_id,
        "TaskTemplateId": TEMPLATE_ID,
        "Name": row["name"],
        "Description": row["description"],
        "References": refs,
        "Attributes": attrs,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--instance-id", required=True)
    parser.add_argument("--retry-mode", choices=["standard", "adaptive"], default="standard")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    config = Config(
        retries={"mode": args.retry_mode},
        max_pool_connections=args.workers,
        connect_timeout=5,
        read_timeout=20,
    )
    client = boto3.client("connect", endpoint_url=args.endpoint_url, config=config)
    with open(args.input, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    latencies: list[float] = []
    failed: dict[str, int] = {}

    def send(row: dict[str, str]) -> None:
        t0 = time.monotonic()
        try:
            client.start_task_contact(**params(row, args.instance_id))
        except Exception as exc:  # a real script would log and move on
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            failed[code] = failed.get(code, 0) + 1
            return
        latencies.append(time.monotonic() - t0)

    started = time.monotonic()
    with ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(send, rows))
    wall = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float | None:
        return (
            latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else None
        )

    print(
        json.dumps(
            {
                "rows": len(rows),
                "succeeded": len(latencies),
                "failed": failed,
                "wall_s": wall,
                "p50_s": pct(50),
                "p99_s": pct(99),
            }
        )
    )


if __name__ == "__main__":
    main()
