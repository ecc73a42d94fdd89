"""Bad-input corpus (issue 5, item 5): malformed and hostile files through `validate` and `run`.

Every case is a file (generated here, or an existing one from tests/input/corpus) with its
documented outcome: the exit codes of `taskloader validate` and `taskloader run`, and the
ledger's rows by status after the run. Checked for every case: no traceback on any output,
the documented exit codes, every row of the file in the ledger exactly once and terminal,
and the emulator holding exactly the ledger's succeeded contacts.

    .venv/bin/python scripts/reliability/corpus.py            # table on stdout, exit 1 on a miss
    .venv/bin/python scripts/reliability/corpus.py --markdown # the table in docs/reliability.md
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import INSTANCE_ID, ROOT, TASKLOADER, TEMPLATES, Emulator, aws_env, ledger_rows

CORPUS = ROOT / "tests" / "input" / "corpus"
HEAD = "key,name,Customer name,Account number,Reason"
GOOD = "k{n},Call back {n},Ana Silva,123456,Billing"


def _csv(*rows: str, head: str = HEAD) -> bytes:
    return ("\n".join([head, *rows]) + "\n").encode()


def _good(n: int, start: int = 1) -> list[str]:
    return [GOOD.format(n=i) for i in range(start, start + n)]


def _jsonl(*objs: Any) -> bytes:
    return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objs).encode()


def _obj(n: int, **extra: Any) -> dict[str, Any]:
    base = {"key": f"k{n}", "name": f"Call back {n}", "Customer name": "Ana Silva"}
    base.update({"Account number": 123456, "Reason": "Billing"})
    base.update(extra)
    return base


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    data: bytes | Path  # bytes: written to ``name``; Path: an existing corpus file
    validate: int  # documented exit code of `taskloader validate`
    run: int  # documented exit code of `taskloader run`
    ledger: dict[str, int] = field(default_factory=dict)  # rows by status after the run
    args: tuple[str, ...] = ()


def cases() -> list[Case]:
    c = CORPUS
    deep = '{"key": "k1", "name": "deep", "fields": ' + "[" * 100_000 + "]" * 100_000 + "}"
    big_int = '{"key": "k1", "name": "big", "Account number": ' + "9" * 5000 + "}"
    many_cols = ",".join(f"c{i}" for i in range(5000))
    refs = ",".join(f"ref.r{i}" for i in range(60))
    return [
        # --- existing reader corpus (tests/input/corpus), rows lack the Callback fields ------
        Case("empty.csv", "empty file", c / "empty.csv", 2, 2),
        Case("blank_lines_only.csv", "only blank lines", c / "blank_lines_only.csv", 2, 2),
        Case("header_only.csv", "header, no rows", c / "header_only.csv", 0, 0),
        Case("nul_bytes.csv", "NUL byte in a cell", c / "nul_bytes.csv", 2, 2),
        Case("latin1.csv", "Latin-1, not UTF-8", c / "latin1.csv", 2, 2),
        Case("latin1.jsonl", "Latin-1 JSONL", c / "latin1.jsonl", 2, 2),
        Case("ragged_short.csv", "short row", c / "ragged_short.csv", 2, 2),
        Case("ragged_many.csv", "short and long rows", c / "ragged_many.csv", 2, 2),
        Case("duplicate_header.csv", "duplicate column", c / "duplicate_header.csv", 2, 2),
        Case("unterminated_quote.csv", "quote never closed", c / "unterminated_quote.csv", 2, 2),
        Case("bad_json.jsonl", "truncated JSON line", c / "bad_json.jsonl", 2, 2),
        Case("not_object.jsonl", "JSON array line", c / "not_object.jsonl", 2, 2),
        Case("truncated.csv.gz", "truncated gzip", c / "truncated.csv.gz", 2, 2),
        Case("formula.csv", "formula cells, fields missing", c / "formula.csv", 1, 1,
             {"invalid": 2}),
        Case("duplicate_keys.csv", "same key twice", c / "duplicate_keys.csv", 1, 1,
             {"invalid": 3}),
        Case("embedded_newline.csv", "newlines in a quoted cell", c / "embedded_newline.csv",
             1, 1, {"invalid": 2}),
        # --- generated: encodings ---
        Case("utf16.csv", "UTF-16 with BOM", _csv(*_good(2)).decode().encode("utf-16"), 2, 2),
        Case("cp1252.csv", "Windows-1252 smart quotes",
             _csv("k1,\u201cCall\u201d back,Ana,1,Billing").decode().encode("cp1252"), 2, 2),
        Case("binary.csv", "random binary bytes", bytes(range(256)) * 8, 2, 2),
        Case("bom_crlf.csv", "UTF-8 BOM + CRLF", b"\xef\xbb\xbf" + _csv(*_good(2)).replace(
             b"\n", b"\r\n"), 0, 0, {"succeeded": 2}),
        Case("cr_only.csv", "old-Mac CR line ends (refused: malformed CSV)",
             _csv(*_good(2)).replace(b"\n", b"\r"), 2, 2),
        Case("unicode.csv", "emoji, RTL override, zero-width, escape codes",
             _csv("k1,Call \U0001f600 back,\u202eevil\u200b,1,Billing",
                  "k2,\x1b[31mred\x1b[0m,Ana,2,Billing"), 0, 0, {"succeeded": 2}),
        Case("surrogate.jsonl", "lone UTF-16 surrogate escape",
             _jsonl('{"key": "k1", "name": "bad \\ud800", "Customer name": "A", '
                    '"Account number": 1, "Reason": "Billing"}', _obj(2)), 1, 1,
             {"invalid": 1, "succeeded": 1}),
        Case("nul_escape.jsonl", "NUL as a JSON escape (accepted and sent)",
             _jsonl(_obj(1, name="a\u0000b"), _obj(2)), 0, 0, {"succeeded": 2}),
        # --- generated: quoting and shape ---
        Case("quotes.csv", "doubled quotes and delimiters in cells",
             _csv('k1,"Say ""hi"", then go",Ana,1,Billing'), 0, 0, {"succeeded": 1}),
        Case("stray_quote.csv", "quote in the middle of a cell",
             _csv('k1,Call "back,Ana,1,Billing'), 0, 0, {"succeeded": 1}),
        Case("semicolon.csv", "semicolon file read with ','",
             _csv("k1;Call;Ana;1;Billing", head=HEAD.replace(",", ";")), 1, 1, {"invalid": 1}),
        Case("many_columns.csv", "5,000 unknown columns",
             _csv(",".join(["k1", "n", "Ana", "1", "Billing", *["x"] * 5000]),
                  head=HEAD + "," + many_cols), 0, 0, {"succeeded": 1}),
        Case("no_trailing_newline.csv", "last row without a newline",
             _csv(*_good(2))[:-1], 0, 0, {"succeeded": 2}),
        # --- generated: enormous fields ---
        Case("field_100k.csv", "100 kB name (limit 512)",
             _csv(f"k1,{'x' * 100_000},Ana,1,Billing", *_good(1, 2)), 1, 1,
             {"invalid": 1, "succeeded": 1}),
        Case("field_1m.csv", "1 MB name cell (csv's default field limit is 128 kB)",
             _csv(f"k1,{'x' * 1_000_000},Ana,1,Billing", *_good(1, 2)), 1, 1,
             {"invalid": 1, "succeeded": 1}),
        Case("refs_over_4k.csv", "60 references, 4 kB+ in total",
             _csv(",".join(["k1", "n", "Ana", "1", "Billing", *["v" * 80] * 60]),
                  head=HEAD + "," + refs), 1, 1, {"invalid": 1}),
        Case("gzip_lines.csv.gz", "gzip of 20,000 rows with one key (first one sent)",
             gzip.compress(_csv(*["k1,n,Ana,1,Billing"] * 20_000)), 1, 1,
             {"invalid": 19_999, "succeeded": 1}),
        # --- generated: formula injection ---
        Case("formula_valid.csv", "=, +, -, @ cells in valid rows",
             _csv('k1,=HYPERLINK("http://x"),Ana,1,Billing', "k2,+1+1,@SUM(1),1,Billing",
                  "k3,-2+3,Ana,1,Billing"), 0, 0, {"succeeded": 3}),
        # --- generated: JSON structure and types ---
        Case("deep.jsonl", "JSON nested 100,000 deep", _jsonl(deep, _obj(2)), 2, 2),
        Case("big_int.jsonl", "a 5,000-digit integer", _jsonl(big_int, _obj(2)), 2, 2),
        Case("dup_keys.jsonl", "duplicate JSON keys (last wins)",
             _jsonl('{"key": "k1", "name": "a", "name": "b", "Customer name": "A", '
                    '"Account number": 1, "Reason": "Billing"}'), 0, 0, {"succeeded": 1}),
        Case("wrong_types.jsonl", "null, list, object, bool; `fields` a string",
             _jsonl(_obj(1, name=None), _obj(2, name=["a"]), _obj(3, name={"a": 1}),
                    _obj(4, **{"Account number": True}), _obj(5, fields="not an object"),
                    _obj(6)), 1, 1, {"invalid": 5, "succeeded": 1}),
        Case("nan.jsonl", "NaN, not JSON", _jsonl(
             '{"key": "k1", "name": "n", "Customer name": "A", "Account number": NaN, '
             '"Reason": "Billing"}', _obj(2)), 2, 2),
        # --- generated: values the API refuses ---
        Case("bad_values.csv", "past/garbage schedule, bad expiry, bad attribute key",
             _csv("k1,n,Ana,1,Billing,2001-01-01T00:00:00Z,,", "k2,n,Ana,1,Billing,soon,,",
                  "k3,n,Ana,1,Billing,,0,", "k4,n,Ana,1,Billing,,,x", "k5,n,Ana,1,Billing,,,",
                  head=HEAD + ",scheduled_time,expiry_minutes,attr.bad key!"),
             1, 1, {"invalid": 4, "succeeded": 1}),
        Case("unknown_template.csv", "a template that does not exist",
             _csv("k1,n,Ana,1,Billing,Refund", "k2,n,Ana,1,Billing,Callback",
                  head=HEAD + ",template"), 1, 1, {"invalid": 1, "succeeded": 1}),
    ]  # fmt: skip


def _taskloader(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    proc = subprocess.run(
        [TASKLOADER, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    return proc.returncode, proc.stdout + proc.stderr


def check(case: Case, work: Path, emu: Emulator) -> dict[str, Any]:
    path = work / case.name
    if isinstance(case.data, Path):
        path.write_bytes(case.data.read_bytes())
    else:
        path.write_bytes(case.data)
    env = aws_env()
    common = ["--template", "Callback", "--instance-id", INSTANCE_ID, "--endpoint-url", emu.url]
    v_code, v_out = _taskloader(["validate", str(path), *common, *case.args], env)
    ledger = work / f"{case.name}.ledger" / "ledger.sqlite"
    ledger.parent.mkdir()
    r_code, r_out = _taskloader(
        ["run", str(path), *common, "--ledger", str(ledger), "--rate", "100", "--burst", "20",
         "--log-format", "json", *case.args],
        env,
    )  # fmt: skip
    rows = ledger_rows(ledger) if ledger.exists() else []
    counts = dict(sorted(Counter(r[2] for r in rows).items()))
    tokens = {r[4] for r in rows}
    contacts = {c["ContactId"] for c in emu.contacts() if c["ClientToken"] in tokens}
    succeeded = {r[3] for r in rows if r[2] == "succeeded"}
    problems = []
    if "Traceback" in v_out or "Traceback" in r_out:
        problems.append("traceback")
    if v_code != case.validate:
        problems.append(f"validate exit {v_code}, documented {case.validate}")
    if r_code != case.run:
        problems.append(f"run exit {r_code}, documented {case.run}")
    if counts != case.ledger:
        problems.append(f"ledger {counts}, documented {case.ledger}")
    if contacts != succeeded:
        problems.append(f"{len(contacts)} emulator contacts vs {len(succeeded)} succeeded")
    message = next((line for line in r_out.splitlines() if "error" in line.lower()), "")
    return {
        "file": case.name,
        "what": case.what,
        "validate": v_code,
        "run": r_code,
        "ledger": counts,
        "contacts": len(contacts),
        "message": message[:160],
        "problems": problems,
    }


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| file | what | validate | run | ledger after the run | tasks | as documented |",
        "|---|---|---:|---:|---|---:|---|",
    ]
    for r in results:
        ledger = ", ".join(f"{n} {s}" for s, n in r["ledger"].items()) or "no rows"
        ok = "yes" if not r["problems"] else "**no**: " + "; ".join(r["problems"])
        lines.append(
            f"| `{r['file']}` | {r['what']} | {r['validate']} | {r['run']} | {ledger} "
            f"| {r['contacts']} | {ok} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--only", nargs="*", help="case file names")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="corpus-"))
    selected = [c for c in cases() if not args.only or c.name in args.only]
    results = []
    with Emulator(
        "--templates", str(TEMPLATES), "--rate-limit", "off", "--active-task-limit", "off"
    ) as emu:
        for case in selected:
            result = check(case, work, emu)
            results.append(result)
            if not args.markdown:
                print(json.dumps(result), flush=True)
    if args.markdown:
        print(markdown(results))
    missed = [r["file"] for r in results if r["problems"]]
    print(f"{len(results)} cases, {len(missed)} not as documented: {missed}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
