"""Run the entrypoint exactly as the container would, and check the outcome.

Environment-only configuration (TASKLOADER_* and the standard AWS variables), input and output
on S3 (moto's server over HTTP), the emulator as Amazon Connect, JSON logs on stdout because
stdout is not a terminal. Steps:

1. a run is stopped with SIGTERM part-way: exit 3, ledger checkpointed to S3;
2. while a run holds the prefix, a second one is refused: exit 2;
3. the restarted "container" (a fresh working directory) resumes from the S3 ledger and
   finishes: exit 1 (the input has deliberately invalid rows), every valid row imported once.

    .venv/bin/python scripts/smoke_container.py [--rows 400]

Exits 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parent.parent
TASKLOADER = str(Path(sys.executable).parent / "taskloader")
BUCKET = "nightly-imports"
INPUT_KEY = "incoming/callbacks.csv.gz"
PREFIX = "runs/2026-11-22/"


def make_input(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["key", "template", "name", "Customer name", "Account number"])
    for n in range(1, rows + 1):
        writer.writerow([f"row-{n}", "Callback", f"Call {n}", f"Person {n}", str(5000 + n)])
    writer.writerow(["bad-1", "Callback", "Broken", "", "n/a"])
    return gzip.compress(out.getvalue().encode())


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [TASKLOADER, "emulator", "--port", "0", "--templates", str(ROOT / "config" / "templates"),
         "--rate-limit", "StartTaskContact=40/40"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def container_env(emulator_url: str, s3_url: str, instance_id: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TASKLOADER_"))}
    env.update({
        "AWS_ACCESS_KEY_ID": "smoke", "AWS_SECRET_ACCESS_KEY": "smoke",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_CONNECT": emulator_url, "AWS_ENDPOINT_URL_S3": s3_url,
        "TASKLOADER_INSTANCE_ID": instance_id,
        "TASKLOADER_OUT_DIR": f"s3://{BUCKET}/{PREFIX}",
        "TASKLOADER_RATE": "40", "TASKLOADER_BURST": "5",
        "TASKLOADER_CHECKPOINT_INTERVAL": "1", "TASKLOADER_PROGRESS_INTERVAL": "1",
        "TASKLOADER_GRACE_PERIOD": "5",
    })  # fmt: skip
    return env


def entrypoint(env: dict[str, str], workdir: Path) -> subprocess.Popen[str]:
    """`ENTRYPOINT ["taskloader"]` with the container's arguments."""
    return subprocess.Popen(
        [TASKLOADER, "run", f"s3://{BUCKET}/{INPUT_KEY}"],
        env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def json_events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400)
    args = parser.parse_args()
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            failures.append(what)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    s3_url = f"http://{host}:{port}"
    emulator, emulator_url = start_emulator()
    try:
        s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1",
                          aws_access_key_id="smoke", aws_secret_access_key="smoke")  # fmt: skip
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=INPUT_KEY, Body=make_input(args.rows))
        instance_id = get_json(f"{emulator_url}/_emulator/world")["instances"][0]["id"]
        env = container_env(emulator_url, s3_url, instance_id)

        with tempfile.TemporaryDirectory() as first_dir, tempfile.TemporaryDirectory() as other:
            first = entrypoint(env, Path(first_dir))
            deadline = time.monotonic() + 60
            while get_json(f"{emulator_url}/_emulator/stats")["contacts_created"] < args.rows // 4:
                if time.monotonic() > deadline or first.poll() is not None:
                    break
                time.sleep(0.1)
            second = entrypoint(env, Path(other))
            _, second_err = second.communicate(timeout=60)
            check(second.returncode == 2, f"a second run on the same prefix exits 2 "
                                          f"(got {second.returncode})")  # fmt: skip
            check("lock" in second_err.lower(), "and says the ledger is locked")
            first.send_signal(signal.SIGTERM)
            out, _ = first.communicate(timeout=60)
            check(first.returncode == 3, f"SIGTERM mid-run exits 3 (got {first.returncode})")
            events = json_events(out)
            check(any(e.get("event") == "run.progress" for e in events),
                  "stdout carries JSON progress events")  # fmt: skip
            keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
            check(f"{PREFIX}ledger.sqlite" in keys, "the ledger was checkpointed to S3")

        with tempfile.TemporaryDirectory() as restarted:
            final = entrypoint(env, Path(restarted))
            out, _ = final.communicate(timeout=300)
            check(final.returncode == 1, f"the restarted run finishes with exit 1 "
                                         f"(invalid rows; got {final.returncode})")  # fmt: skip
            summary = [e for e in json_events(out) if e.get("event") == "run.summary"]
            check(len(summary) == 1, "the final summary is one JSON log line")
            if summary:
                counts = summary[0]["counts"]
                check(counts["succeeded"] == args.rows and counts["invalid"] == 1,
                      f"ledger counts after resume: {counts}")  # fmt: skip
        stats = get_json(f"{emulator_url}/_emulator/stats")
        check(
            stats["contacts_created"] == args.rows,
            f"the emulator holds exactly one task per valid row ({stats['contacts_created']})",
        )
        check(stats["duplicate_tokens"] == 0, "no ClientToken produced two tasks")
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
        for name in ("succeeded.csv", "invalid.csv", "unprocessed.csv", "summary.json"):
            check(f"{PREFIX}{name}" in keys, f"{name} uploaded")
        check(f"{PREFIX}ledger.lock" not in keys, "the S3 lock was released")
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
        moto.stop()
    print("smoke: " + ("passed" if not failures else f"{len(failures)} check(s) failed"))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
