"""Real-world shaped files imported into the emulator: what Amazon Connect receives is what the
file meant (its encoding decoded, its delimiter found, its local times in the right zone). The
files are ``tests/input/realworld``; `validate` covers all of them in
``tests/input/test_realworld.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog.testing
from click.testing import CliRunner

from taskloader.cli import main
from taskloader.errors import InputFileError
from taskloader.run.pipeline import run_import
from taskloader.settings import load_settings
from tests.conftest import EmulatorHandle
from tests.run.conftest import (
    FAST,
    REGION,
    Run,
    contact_pairs,
    ledger_records,
    succeeded_pairs,
)

CORPUS = Path(__file__).resolve().parents[1] / "input" / "realworld"


def by_name(emulator: EmulatorHandle) -> dict[str, dict[str, Any]]:
    return {c["Name"]: c for c in emulator.contacts()}


def ref(contact: dict[str, Any], field: str) -> str:
    return str(contact["References"][field]["Value"])


@pytest.mark.parametrize(
    ("name", "settings", "expected"),
    [
        (
            "excel_european.csv",  # BOM, semicolons, DD/MM/YYYY HH:mm in Berlin (UTC+1)
            {"date_format": "DD/MM/YYYY HH:mm", "timezone": "Europe/Berlin"},
            {"Call back Jia Berg": ("Jia Berg", "1798560000")},  # 2026-12-29T16:00Z
        ),
        (
            "crm_export.tsv",  # tabs, header case and blanks, 12-hour US times in New York
            {"date_format": "MM/DD/YYYY h:mm AM/PM", "timezone": "America/New_York"},
            {
                "Call back Jia": ("Jia Berg", "1798754400"),  # 2026-12-31T22:00Z
                "Call back Gus": ("Gus Silva", "1798900200"),  # 2027-01-02T14:30Z
            },
        ),
        (
            "local_times.csv",  # ISO without an offset, and a date alone, in Paris (UTC+1)
            {"timezone": "Europe/Paris"},
            {
                "Call Jia": ("Jia Berg", "1798732800"),  # 2026-12-31T16:00Z
                "Call Gus": ("Gus Silva", "1798702200"),  # 2026-12-31T07:30Z
                "Call Kai": ("Kai Haddad", "1799017200"),  # 2027-01-03T23:00Z: 00:00 in Paris
            },
        ),
    ],
)
async def test_local_times_reach_connect_in_their_time_zone(
    run: Run,
    emulator: EmulatorHandle,
    templates: dict[str, str],
    name: str,
    settings: dict[str, str],
    expected: dict[str, tuple[str, str]],
) -> None:
    report = await run(CORPUS / name, template="Callback", **settings)
    assert report.exit_code == 0, report.counts
    contacts = by_name(emulator)
    for task, (customer, call_before) in expected.items():
        contact = contacts[task]
        assert contact["TaskTemplateId"] == templates["Callback"]
        assert ref(contact, "Customer name") == customer
        assert ref(contact, "Call before") == call_before
    assert contact_pairs(emulator) == succeeded_pairs(Path(report.ledger))


@pytest.mark.parametrize(
    ("name", "settings"),
    [("excel_windows_cp1252.csv", {"encoding": "cp1252"}), ("excel_unicode_text.txt", {})],
)
async def test_text_in_other_encodings_reaches_connect_as_written(
    run: Run, emulator: EmulatorHandle, templates: dict[str, str], name: str, settings: Any
) -> None:
    report = await run(CORPUS / name, template="Callback", **settings)
    assert report.exit_code == 0, report.counts
    contacts = by_name(emulator)
    if name.endswith(".txt"):
        assert ref(contacts["Call Ōta"], "Customer name") == "太田 一郎"
        assert ref(contacts["Rappel Zoé"], "Customer name") == "Zoé Lefèvre"
    else:
        muller = contacts["Rückruf Jürgen Müller"]
        assert ref(muller, "Customer name") == "Jürgen Müller"
        assert muller["Description"] == "Rechnung über 120 € prüfen"
        assert contacts["Rappeler Zoé Lefèvre"]["Description"] == "« urgent » – café fermé"


EUROPEAN = {"date_format": "DD/MM/YYYY HH:mm", "timezone": "Europe/Berlin"}
EXCEL_TASKS = ["Call back Gus Silva", "Call back Jia Berg", "Call back Kai Haddad"]


async def test_excel_empty_header_cells_are_no_columns(
    run: Run, emulator: EmulatorHandle, templates: dict[str, str]
) -> None:
    """The walkthrough's file: Excel's header ends ``Call before;;`` (two empty cells over
    columns that once held data). Once refused as a duplicate column ''; now every row is sent,
    and nothing is said about columns that hold nothing."""
    with structlog.testing.capture_logs() as logs:
        report = await run(CORPUS / "excel_trailing_columns.csv", template="Callback", **EUROPEAN)
    assert report.exit_code == 0, report.counts
    assert sorted(c["Name"] for c in emulator.contacts()) == EXCEL_TASKS
    assert ref(by_name(emulator)["Call back Jia Berg"], "Call before") == "1798560000"
    assert contact_pairs(emulator) == succeeded_pairs(Path(report.ledger))
    assert not [e for e in logs if "unknown" in e["event"] or "unnamed" in e["event"]]


async def test_values_under_unnamed_columns_are_ignored_with_one_note(
    run: Run, emulator: EmulatorHandle, templates: dict[str, str], tmp_path: Path
) -> None:
    """Values typed under the unnamed columns reach neither Connect, the ledger nor the logs;
    one note names the columns' positions; a row with values only there is an invalid row."""
    lines = (CORPUS / "excel_trailing_columns.csv").read_text(encoding="utf-8-sig").splitlines()
    lines[1] = lines[1].removesuffix(";;") + ";secret-1;"
    lines[2] = lines[2].removesuffix(";;") + ";;secret-2"
    lines.append(";;;;;;secret-3;")
    path = tmp_path / "typed.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    with structlog.testing.capture_logs() as logs:
        report = await run(path, template="Callback", **EUROPEAN)
    assert report.exit_code == 1, report.counts
    assert (report.counts["succeeded"], report.counts["invalid"]) == (3, 1)
    assert sorted(c["Name"] for c in emulator.contacts()) == EXCEL_TASKS
    notes = [e for e in logs if e["event"] == "input.unnamed_columns_ignored"]
    assert [(n["columns"], n["first_line"]) for n in notes] == [([7, 8], 2)]
    written = [Path(report.ledger).parent, Path(report.out_dir)]  # the ledger, result files
    kept = b"".join(f.read_bytes() for d in written for f in d.rglob("*") if f.is_file())
    for secret in ("secret-1", "secret-2", "secret-3"):
        assert secret not in str(emulator.contacts())
        assert secret not in str(logs)
        assert secret.encode() not in kept


async def test_the_mapping_template_constant_picks_the_template(
    emulator: EmulatorHandle, templates: dict[str, str], tmp_path: Path
) -> None:
    """`constants = { template = "Callback" }` of the example config: no --template needed, and
    the rename, attributes and ignore of the [mapping] table apply with it."""
    config = tmp_path / "taskloader.toml"
    config.write_text(
        "[mapping]\n"
        'rename = { "Client" = "Customer name", "Phone" = "ref.phone" }\n'
        'constants = { Template = "Callback", Reason = "Sales" }\n'
        'attributes = ["segment"]\n'
        'references = ["CRM_URL"]\n'
        'ignore = ["internal_notes"]\n',
        encoding="utf-8",
    )
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "Task name,client,Account number,Phone,Segment,crm_url,Internal_Notes\n"
        "Call Ana,Ana Lima,123,+15550100,gold,https://crm.example.com/1,private\n",
        encoding="utf-8",
    )
    flags = {
        "region": REGION,
        "endpoint_url": emulator.url,
        "instance_id": emulator.instance_id,
        "ledger": str(tmp_path / "ledger.sqlite"),
        **FAST,
    }
    report = await run_import(str(rows), load_settings(config, flags=flags, environ={}))
    assert report.exit_code == 0, report.counts
    (contact,) = emulator.contacts()
    assert contact["TaskTemplateId"] == templates["Callback"]
    assert ref(contact, "Customer name") == "Ana Lima"
    assert ref(contact, "Reason") == "Sales"
    assert ref(contact, "phone") == "+15550100"
    assert contact["Attributes"] == {"Segment": "gold"}
    assert contact["References"]["crm_url"] == {
        "Type": "STRING",
        "Value": "https://crm.example.com/1",
    }
    assert "private" not in str(contact)


async def test_a_file_without_a_header_row_sends_nothing_and_logs_no_value(
    run: Run, emulator: EmulatorHandle, templates: dict[str, str], capsys: Any
) -> None:
    with pytest.raises(InputFileError, match="looks like data"):
        await run(CORPUS / "no_header.csv", template="Callback")
    assert emulator.contacts() == []
    assert "StartTaskContact" not in emulator.stats()["requests"]
    assert "Jia" not in capsys.readouterr().out


async def test_template_fields_named_like_reserved_columns_reach_connect(
    run: Run, emulator: EmulatorHandle, connect_client: Any, tmp_path: Path
) -> None:
    """A template with TEXT fields ``References``, ``Attributes`` and ``Key``: the file's columns
    of those names fill them (none silently dropped), ``Key`` also keys the row, and `validate`
    and `run` agree on the file."""
    fields = [{"Id": {"Name": "Task name"}, "Type": "NAME"}] + [
        {"Id": {"Name": name}, "Type": "TEXT"} for name in ("References", "Attributes", "Key")
    ]
    connect_client.create_task_template(
        InstanceId=emulator.instance_id, Name="Claims", ContactFlowId=emulator.flow_id,
        Fields=fields,
    )  # fmt: skip
    path = tmp_path / "claims.csv"
    path.write_text(
        "template,Task name,References,Attributes,Key\n"
        "Claims,Review claim 1,CLM-1,priority,k1\n"
        "Claims,Review claim 2,CLM-2,normal,k2\n",
        encoding="utf-8",
    )
    args = ["validate", str(path), "--endpoint-url", emulator.url, "--instance-id",
            emulator.instance_id, "--region", REGION]  # fmt: skip
    checked = await anyio.to_thread.run_sync(CliRunner().invoke, main, args)
    assert checked.exit_code == 0, checked.output
    report = await run(path, out_dir=str(tmp_path / "results"))
    assert report.exit_code == 0
    contacts = by_name(emulator)
    assert sorted(contacts) == ["Review claim 1", "Review claim 2"]
    first = contacts["Review claim 1"]
    assert (ref(first, "References"), ref(first, "Attributes"), ref(first, "Key")) == (
        "CLM-1", "priority", "k1",
    )  # fmt: skip
    assert succeeded_pairs(tmp_path / "out" / "ledger.sqlite") == contact_pairs(emulator)
    keys = {r.key for r in ledger_records(tmp_path / "out" / "ledger.sqlite")}
    assert keys == {"k1", "k2"}


async def test_a_lone_surrogate_in_jsonl_is_that_rows_problem(
    run: Run, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A JSON escape of half a surrogate pair decodes to no text: that row is invalid
    (invalid_text, in the ledger and the result files as U+FFFD), the others are sent, and
    neither `validate` nor `run` ends in a traceback."""
    path = tmp_path / "calls.jsonl"
    lines = [
        f'{{"key": "k{n}", "name": "Task {n}", "contact_flow_id": "{emulator.flow_id}"}}'
        for n in range(3)
    ]
    lines[1] = lines[1].replace('"Task 1"', '"Task \\ud800 1"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["validate", str(path), "--endpoint-url", emulator.url, "--instance-id",
            emulator.instance_id, "--region", REGION]  # fmt: skip
    checked = await anyio.to_thread.run_sync(CliRunner().invoke, main, args)
    assert checked.exit_code == 1, checked.output
    assert not isinstance(checked.exception, UnicodeError)
    assert "invalid_text" in checked.output
    report = await run(path, out_dir=str(tmp_path / "results"))
    assert (report.counts["succeeded"], report.counts["invalid"]) == (2, 1)
    assert sorted(by_name(emulator)) == ["Task 0", "Task 2"]
    [bad] = [r for r in ledger_records(tmp_path / "out" / "ledger.sqlite") if r.key == "k1"]
    assert bad.error_code == "invalid_text" and bad.raw is not None
    assert bad.raw["name"] == "Task \ufffd 1"
