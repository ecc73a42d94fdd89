#!/usr/bin/env python
"""Measure the emulator's StartTaskContact throughput over HTTP.

The emulator runs in its own process (`taskloader emulator --port 0`, quotas and faults off),
pinned to one CPU when the machine has two or more; this process drives it with aiohttp (or
aiobotocore with --client aiobotocore) from the other CPU and prints requests per second.

    .venv/bin/python scripts/bench_emulator.py --requests 20000 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import aiohttp

INSTANCE = "11111111-1111-4111-8111-111111111111"
FLOW = "22222222-2222-4222-8222-000000000001"
VENV_BIN = Path(sys.executable).parent


def start_server(cpu: int | None) -> tuple[subprocess.Popen[str], str]:
    cmd = [
        str(VENV_BIN / "taskloader"),
        "emulator",
        "--port",
        "0",
        "--rate-limit",
        "off",
        "--active-task-limit",
        "off",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://"):
        proc.kill()
        raise SystemExit(f"emulator did not print its URL (got {url!r})")
    if cpu is not None:
        os.sched_setaffinity(proc.pid, {cpu})
    return proc, url


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def body(n: int) -> bytes:
    return json.dumps(
        {
            "InstanceId": INSTANCE,
            "ContactFlowId": FLOW,
            "Name": f"bench task {n}",
            "Description": "benchmark",
            "ClientToken": str(uuid.uuid4()),
            "References": {"order": {"Type": "STRING", "Value": str(n)}},
            "Attributes": {"row": str(n)},
        }
    ).encode()


async def drive_aiohttp(url: str, total: int, concurrency: int) -> float:
    headers = {
        "Content-Type": "application/json",
        # The emulator checks that a SigV4 header is present, not the signature.
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20250101/us-east-1/connect/"
        "aws4_request, SignedHeaders=host, Signature=0",
    }
    counter = iter(range(total))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            for n in counter:
                async with session.put(f"{url}/contact/task", data=body(n)) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise SystemExit(f"unexpected status {resp.status}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


async def drive_aiobotocore(url: str, total: int, concurrency: int) -> float:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    config = AioConfig(max_pool_connections=concurrency, retries={"max_attempts": 0})
    counter = iter(range(total))
    async with get_session().create_client(
        "connect", region_name="us-east-1", endpoint_url=url, config=config
    ) as client:

        async def worker() -> None:
            for n in counter:
                await client.start_task_contact(
                    InstanceId=INSTANCE, ContactFlowId=FLOW, Name=f"bench task {n}"
                )

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--client", choices=["aiohttp", "aiobotocore"], default="aiohttp")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[0] if len(cpus) >= 2 else None
    if server_cpu is not None:
        os.sched_setaffinity(0, set(cpus[1:]))
    proc, url = start_server(server_cpu)
    try:
        drive = drive_aiohttp if args.client == "aiohttp" else drive_aiobotocore
        # Warm up, then measure.
        asyncio.run(drive(url, min(2000, args.requests), args.concurrency))
        cpu_before = server_cpu_seconds(proc.pid)
        elapsed = asyncio.run(drive(url, args.requests, args.concurrency))
        server_busy = (server_cpu_seconds(proc.pid) - cpu_before) / elapsed
        created = fetch_json(f"{url}/_emulator/stats")["contacts_created"]
    finally:
        proc.terminate()
        proc.wait(10)
    rate = args.requests / elapsed
    print(
        f"StartTaskContact: {args.requests} requests in {elapsed:.2f} s = {rate:,.0f} req/s "
        f"(client {args.client}, concurrency {args.concurrency}, server pinned to "
        f"{'cpu ' + str(server_cpu) if server_cpu is not None else 'no cpu'}; "
        f"{created} contacts created; server CPU busy {server_busy:.0%})"
    )


def fetch_json(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


if __name__ == "__main__":
    main()
