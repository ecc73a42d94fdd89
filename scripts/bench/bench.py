"""Benchmarks B1, B2, B3, B5 of issue 5: taskloader vs a boto3 thread-pool script.

The emulator runs as its own process with StartTaskContact at Q = 50 req/s, burst 125 (the
default quota x 25); every contender imports the same generated Callback rows into it, one
after the other, in one invocation. Figures are printed as JSON; time series are saved for the
plot (``plot``, needs matplotlib: ``.venv/bin/pip install -e '.[bench]'``).

    .venv/bin/python scripts/bench/bench.py b1 --rows 3000      # fidelity and goodput
    .venv/bin/python scripts/bench/bench.py b2 --rows 1500      # contention: background at Q/2
    .venv/bin/python scripts/bench/bench.py b3 --rows 5000      # overhead, quotas off
    .venv/bin/python scripts/bench/bench.py b5 --repeat 5       # start-up to the first request
    .venv/bin/python scripts/bench/bench.py plot                # docs/bench-b1-b2.png
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "reliability"))

from harness import (  # noqa: E402
    INSTANCE_ID,
    ROOT,
    TEMPLATES,
    Emulator,
    aws_env,
    ledger_rows,
    run_command,
    write_rows,
)

Q, BURST = 50.0, 125
POOL = [sys.executable, str(HERE / "threadpool_import.py")]
SERIES = ROOT / "docs" / "bench-series.json"


class Sampler:
    """Polls /_emulator/stats every ``period`` s: cumulative StartTaskContact 200s and 429s."""

    def __init__(self, emu: Emulator, period: float = 0.25, background: Any = None) -> None:
        self.emu, self.period, self.background = emu, period, background
        self.points: list[tuple[float, int, int, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            req = self.emu.stats()["requests"].get("StartTaskContact", {})
            bg = self.background
            self.points.append(
                (
                    round(time.monotonic() - self.t0, 3),
                    int(req.get("200", 0)),
                    int(req.get("429", 0)),
                    bg.ok if bg else 0,
                    bg.throttled if bg else 0,
                )
            )
            self._stop.wait(self.period)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Background:
    """Production traffic: ``rate`` StartTaskContact/s, steady, no retries, its own tokens."""

    def __init__(self, url: str, rate: float) -> None:
        import boto3
        from botocore.config import Config

        session = boto3.Session(
            aws_access_key_id="AKIDBACKGROUND",
            aws_secret_access_key="background",
            region_name="us-east-1",
        )
        self.client = session.client(
            "connect",
            endpoint_url=url,
            config=Config(retries={"total_max_attempts": 1}, max_pool_connections=4),
        )
        self.rate = rate
        self.ok = self.throttled = self.other = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from botocore.exceptions import ClientError

        start = time.monotonic()
        n = 0
        while not self._stop.is_set():
            n += 1
            delay = start + n / self.rate - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            try:
                self.client.start_task_contact(
                    InstanceId=INSTANCE_ID,
                    Name=f"production {n}",
                    ContactFlowId="22222222-2222-4222-8222-000000000001",
                    ClientToken=uuid.uuid4().hex,
                )
                self.ok += 1
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ThrottlingException":
                    self.throttled += 1
                else:
                    self.other += 1

    def __enter__(self) -> Background:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _pct(values: list[float], p: float) -> float | None:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else None


def _taskloader(emu: Emulator, work: Path, name: str, rows: Path, *flags: str) -> dict[str, Any]:
    out = work / name
    out.mkdir()
    ledger = out / "ledger.sqlite"
    cmd = run_command(emu, rows, ledger, *flags)
    cpu0, t0 = _child_cpu(), time.monotonic()
    code = subprocess.run(
        cmd, env=aws_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    ).returncode
    wall, cpu = time.monotonic() - t0, _child_cpu() - cpu0
    summary = json.loads((out / "summary.json").read_text())
    records = ledger_rows(ledger)
    import sqlite3

    conn = sqlite3.connect(f"{ledger.resolve().as_uri()}?mode=ro", uri=True)
    spans = [
        float(s)
        for (s,) in conn.execute(
            "SELECT (julianday(last_attempt_at) - julianday(first_attempt_at)) * 86400 "
            "FROM records WHERE status = 'succeeded'"
        )
    ]
    conn.close()
    return {
        "exit_code": code,
        "succeeded": sum(1 for r in records if r[2] == "succeeded"),
        "failed": sum(1 for r in records if r[2] != "succeeded"),
        "process_wall_s": wall,
        "cpu_s": cpu,
        "call_p50_s": summary["stats"]["latency_p50_s"],
        "call_p99_s": summary["stats"]["latency_p99_s"],
        "row_span_p50_s": _pct(spans, 50),
        "row_span_p99_s": _pct(spans, 99),
        "summary": summary,
    }


def _pool(emu: Emulator, rows: Path, mode: str, workers: int = 16) -> dict[str, Any]:
    cmd = [*POOL, str(rows), "--endpoint-url", emu.url, "--instance-id", INSTANCE_ID]
    cmd += ["--retry-mode", mode, "--workers", str(workers)]
    cpu0, t0 = _child_cpu(), time.monotonic()
    out = subprocess.run(cmd, env=aws_env(), capture_output=True, text=True, check=True).stdout
    wall, cpu = time.monotonic() - t0, _child_cpu() - cpu0
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result.update(process_wall_s=wall, cpu_s=cpu)
    return result


def _window(points: list[tuple[float, int, int, int, int]], bg: bool) -> dict[str, float]:
    """Contender's goodput over the span from its first to its last success (from the samples)."""
    own = [
        (t, ok - (b_ok if bg else 0), th - (b_th if bg else 0)) for t, ok, th, b_ok, b_th in points
    ]
    first = next(t for t, ok, _ in own if ok > 0)
    total_ok, total_th = own[-1][1], own[-1][2]
    last = next(t for t, ok, _ in own if ok >= total_ok)
    # steady state: from 10 s after the first success (the bucket's burst is spent) to the last
    base = next(((t, ok) for t, ok, _ in own if t >= first + 10), (last, total_ok))
    steady = (total_ok - base[1]) / (last - base[0]) if last > base[0] else 0.0
    return {"ok": total_ok, "throttled": total_th, "span_s": max(last - first, 1e-9),
            "steady_per_s": steady}  # fmt: skip


def contention(args: argparse.Namespace, background_rate: float, label: str) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"bench-{label}-"))
    rows = work / "input.csv"
    write_rows(rows, args.rows, seed=11)
    limits = ("--rate-limit", f"StartTaskContact={Q:g}/{BURST}", "--active-task-limit", "off")
    contenders = {
        "taskloader": lambda emu: _taskloader(
            emu, work, "taskloader", rows, "--rate", f"{Q:g}", "--concurrency", "16"
        ),
        "boto3 pool, standard": lambda emu: _pool(emu, rows, "standard"),
        "boto3 pool, adaptive": lambda emu: _pool(emu, rows, "adaptive"),
    }
    results: dict[str, Any] = {}
    series: dict[str, Any] = {}
    for name, run in contenders.items():
        with Emulator("--templates", str(TEMPLATES), *limits) as emu:
            bg = Background(emu.url, background_rate) if background_rate else None
            if bg:
                bg.__enter__()
                time.sleep(3)  # production traffic is already flowing; the bucket is drained
            with Sampler(emu, background=bg) as sampler:
                result = run(emu)
                time.sleep(0.5)
            if bg:
                bg.__exit__()
            stats = emu.stats()
            contacts = emu.contacts()
        w = _window(sampler.points, bg is not None)
        share = Q - background_rate
        requests = w["ok"] + w["throttled"]
        result.update(
            goodput_per_s=w["ok"] / w["span_s"],
            goodput_of_share=w["ok"] / w["span_s"] / share,
            steady_goodput_of_share=w["steady_per_s"] / share,
            throttled_fraction=w["throttled"] / requests if requests else 0.0,
            requests=requests,
            duplicate_tokens=stats["duplicate_tokens"],
            extra_contacts=len(contacts) - (bg.ok if bg else 0) - args.rows,
            rows_lost=args.rows - w["ok"],
            background={"ok": bg.ok, "throttled": bg.throttled} if bg else None,
        )
        result.pop("summary", None)
        results[name] = result
        series[name] = sampler.points
        print(json.dumps({name: result}), flush=True)
    _save_series(label, series)
    return results


def _save_series(label: str, series: dict[str, Any]) -> None:
    data = json.loads(SERIES.read_text()) if SERIES.exists() else {}
    data[label] = series
    SERIES.write_text(json.dumps(data))


def b3(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-b3-"))
    rows = work / "input.csv"
    write_rows(rows, args.rows, seed=13)
    results = {}
    with Emulator(
        "--templates", str(TEMPLATES), "--rate-limit", "off", "--active-task-limit", "off"
    ) as emu:
        for name, run in {
            "taskloader": lambda: _taskloader(
                emu,
                work,
                "taskloader",
                rows,
                "--rate",
                "100000",
                "--burst",
                "1000",
                "--concurrency",
                "16",
            ),
            "boto3 pool, standard": lambda: _pool(emu, rows, "standard"),
        }.items():
            r = run()
            r.pop("summary", None)
            r["cpu_s_per_1000"] = r["cpu_s"] / args.rows * 1000
            r["tasks_per_s"] = args.rows / r["process_wall_s"]
            results[name] = r
            print(json.dumps({name: r}), flush=True)
    return results


def b5(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-b5-"))
    rows = work / "input.csv"
    write_rows(rows, 50, seed=17)
    out: dict[str, list[float]] = {"taskloader": [], "boto3 pool, standard": []}
    with Emulator(
        "--templates", str(TEMPLATES), "--rate-limit", "off", "--active-task-limit", "off"
    ) as emu:
        for i in range(args.repeat):
            for name in out:
                emu.call("POST", "/_emulator/reset", {})
                if name == "taskloader":
                    cmd = run_command(emu, rows, work / f"l{i}.sqlite", "--rate", "1000")
                else:
                    cmd = [
                        *POOL,
                        str(rows),
                        "--endpoint-url",
                        emu.url,
                        "--instance-id",
                        INSTANCE_ID,
                    ]
                t0 = time.monotonic()
                proc = subprocess.Popen(
                    cmd, env=aws_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                while not emu.stats()["requests"].get("StartTaskContact"):
                    time.sleep(0.005)
                out[name].append(time.monotonic() - t0)
                proc.wait()
    result = {n: {"median_s": statistics.median(v), "all_s": v} for n, v in out.items()}
    print(json.dumps(result), flush=True)
    return result


def plot(_: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(SERIES.read_text())
    labels = [label for label in ("B1", "B2") if label in data]
    fig, axes = plt.subplots(2, len(labels), figsize=(6 * len(labels), 6), squeeze=False)
    for col, label in enumerate(labels):
        for name, points in data[label].items():
            bg = label == "B2"
            t = [p[0] for p in points]
            ok = [p[1] - (p[3] if bg else 0) for p in points]
            th = [p[2] - (p[4] if bg else 0) for p in points]
            w = 4  # samples per second: rates over a 1 s sliding window
            rt = t[w:]
            axes[0][col].plot(
                rt, [(ok[i] - ok[i - w]) / (t[i] - t[i - w]) for i in range(w, len(t))], label=name
            )
            axes[1][col].plot(
                rt, [(th[i] - th[i - w]) / (t[i] - t[i - w]) for i in range(w, len(t))], label=name
            )
        share = Q if label == "B1" else Q / 2
        axes[0][col].axhline(share, color="grey", linestyle=":", label=f"quota share {share:g}/s")
        axes[0][col].set_title(f"{label}: successful StartTaskContact/s")
        axes[1][col].set_title(f"{label}: throttled (429)/s")
        axes[1][col].set_xlabel("seconds since the emulator started sampling")
        axes[0][col].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "bench-b1-b2.png", dpi=90)
    print(ROOT / "docs" / "bench-b1-b2.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", choices=["b1", "b2", "b3", "b5", "plot"])
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.bench == "b1":
        args.rows = args.rows or 3000
        contention(args, 0.0, "B1")
    elif args.bench == "b2":
        args.rows = args.rows or 1500
        contention(args, Q / 2, "B2")
    elif args.bench == "b3":
        args.rows = args.rows or 5000
        b3(args)
    elif args.bench == "b5":
        b5(args)
    else:
        plot(args)


if __name__ == "__main__":
    main()
