"""validate's CSV fast path (compiled record checks) finds exactly what ``check_row`` finds.

The reference is the row-at-a-time path of `taskloader run`: every row of the file through
:func:`validation.check_row` with one :class:`CrossRowChecks` shared in file order, its template
resolved by name or id (or the row's template problem). The fast path is
:class:`RecordChecker` fed by ``RowReader.records`` (chunks of any size), or the whole of
:func:`dryrun.validate_file` read back from its JSONL report. Rows are compared by number: the
same problems (code, field and message) in the same order, the same line and values.

"now" is a fixed clock where the test can inject one (``Preparer.limits``); through
``validate_file`` scheduled times are kept an hour or more away from every boundary.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskloader.checks.request import CrossRowChecks, Limits, check_row, template_problem
from taskloader.errors import InputFileError
from taskloader.examples import TEMPLATES_DIR
from taskloader.input.readers import open_rows
from taskloader.mapping.mapper import Mapper
from taskloader.mapping.outcome import OUTCOME_FIELDS, result_columns
from taskloader.mapping.rules import Code, Problem
from taskloader.run.dryrun import RECORD_CHUNK, validate_file
from taskloader.run.fastcheck import RecordChecker
from taskloader.run.options import limits, mapping_config, source_options, template_cache
from taskloader.run.prepare import Preparer
from taskloader.settings import Settings
from taskloader.templates.model import FieldType, TaskTemplate, TemplateField

NOW = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)
HORIZON = timedelta(days=6)  # Settings.schedule_horizon_days
PARIS = ZoneInfo("Europe/Paris")

F = TemplateField
T = FieldType
TEMPLATES = (
    TaskTemplate(
        id="tpl-full",
        arn="arn:aws:connect:us-east-1:111122223333:instance/i-1/task-template/tpl-full",
        name="Full",
        contact_flow_id="flow-1",
        fields=(
            F("Summary", T.TEXT),
            F("Notes", T.TEXT_AREA),
            F("Amount", T.NUMBER),
            F("Due", T.DATE_TIME),
            F("Urgent", T.BOOLEAN),
            F("Priority", T.SINGLE_SELECT, options=("Low", "High")),
            F("Email", T.EMAIL),
            F("Link", T.URL),
        ),
        required=frozenset({"Priority", "Email"}),
        defaults={"Urgent": "false", "Link": "https://example.com"},
    ),
    TaskTemplate(
        id="tpl-top",
        arn="arn:aws:connect:us-east-1:111122223333:instance/i-1/task-template/tpl-top",
        name="Top",
        fields=(
            F("Task name", T.NAME),
            F("Details", T.DESCRIPTION),
            F("When", T.SCHEDULED_TIME),
            F("Assign to", T.QUICK_CONNECT),
            F("Expiry", T.EXPIRY_DURATION),
            F("Me", T.SELF_ASSIGN),
            F("Summary", T.TEXT),
            F("Link", T.URL),
        ),
        required=frozenset({"Task name", "Assign to", "When", "Expiry", "Summary", "Me", "Ghost"}),
        defaults={"Details": "from the template", "Link": ""},
    ),
    TaskTemplate(
        id="tpl-off",
        arn="arn:aws:connect:us-east-1:111122223333:instance/i-1/task-template/tpl-off",
        name="Off",
        status="INACTIVE",
        contact_flow_id="flow-2",
        fields=(F("Summary", T.TEXT), F("Priority", T.SINGLE_SELECT, options=("A", "B"))),
        required=frozenset({"Summary"}),
    ),
    TaskTemplate(
        id="tpl-noflow",
        arn="arn:aws:connect:us-east-1:111122223333:instance/i-1/task-template/tpl-noflow",
        name="NoFlow",
        fields=(
            F("Notes", T.TEXT_AREA),
            F("Due", T.DATE_TIME),
            F("Amount", T.NUMBER),
            F("Email", T.EMAIL),
            F("When", T.SCHEDULED_TIME),
        ),
        required=frozenset({"Notes", "Due"}),
        defaults={"Notes": "n" * 5000, "Amount": "oops"},
    ),
    TaskTemplate(id="tpl-twin-1", arn="", name="Twin", contact_flow_id="flow-1"),
    TaskTemplate(id="tpl-twin-2", arn="", name="Twin", contact_flow_id="flow-1"),
    # the example: Reason a required SINGLE_SELECT with a default, Account number a NUMBER
    TaskTemplate.from_api(json.loads((TEMPLATES_DIR / "callback.json").read_text("utf-8"))),
)
# What the template cache serves: the templates as read back from their files.
SERVED = tuple(TaskTemplate.from_api(json.loads(json.dumps(t.to_api()))) for t in TEMPLATES)


def resolve(ref: str | None) -> TaskTemplate | Problem | None:
    """The reference resolution (as the template cache documents it): id, else unique name,
    else the one ACTIVE template of that name."""
    if ref is None:
        return None
    for t in SERVED:
        if t.id == ref:
            return t
    named = [t for t in SERVED if t.name == ref]
    active = [t for t in named if t.active]
    if len(named) == 1:
        return named[0]
    if len(active) == 1:
        return active[0]
    return template_problem(Code.AMBIGUOUS_TEMPLATE if named else Code.UNKNOWN_TEMPLATE)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("record_check")
    (root / "templates").mkdir()
    for t in TEMPLATES:
        (root / "templates" / f"{t.id}.json").write_text(json.dumps(t.to_api()))
    return root


# --- generated files --------------------------------------------------------------------------


@dataclass(frozen=True)
class When:
    """A scheduled time relative to "now", written when the file is."""

    seconds: int
    style: str  # "Z", "+02:00", "epoch", "ms", "local" (Paris, no offset) or "us" (12-hour)

    def render(self, base: datetime) -> str:
        at = base + timedelta(seconds=self.seconds)
        if self.style == "epoch":
            return str(int(at.timestamp()))
        if self.style == "ms":
            return str(int(at.timestamp()) * 1000)
        if self.style == "local":
            return at.astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S")
        if self.style == "us":
            return at.astimezone(PARIS).strftime("%m/%d/%Y %I:%M %p")
        if self.style == "Z":
            return at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return at.astimezone(timezone(timedelta(hours=2))).isoformat()


DAY = 86400
HOUR = 3600
HORIZON_S = int(HORIZON.total_seconds())
#: Offsets an hour or more from "now" and from the horizon: safe with a real clock.
SAFE_OFFSETS = (-3 * DAY, -HOUR, HOUR, 2 * DAY, 5 * DAY, HORIZON_S + HOUR, 10 * DAY)
#: With the fixed clock the boundaries themselves too.
EDGE_OFFSETS = (*SAFE_OFFSETS, 0, -1, HORIZON_S, HORIZON_S + 1)

SMALL_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=6
)

LONG = {
    "name": ["x" * 1024, "x" * 1025, "é" * 1025, "é" * 600],
    "desc": ["d" * 4096, "d" * 4097, "é" * 4097],
    "text": ["s" * 511, "s" * 512, "é" * 512, "multi\nline", "crlf\r\nline"],
    "area": ["n" * 4095, "n" * 4096, "€" * 2000],
    "ref": ["x" * 1500, "é" * 1000, "x" * 4096, "x" * 4097, "𝄞" * 700],
    "attr": ["x" * 17000, "é" * 9000, "a"],
}

VALUES: dict[str, list[str]] = {
    "name": ["", "Call back", " ", "n1", "n2", *LONG["name"]],
    "description": ["", "d", *LONG["desc"]],
    "expiry_minutes": ["", "1", "0", "129600", "129601", " 60 ", "x", "1.5"],
    "contact_flow_id": ["", "flow-9", "f" * 500, "f" * 501],
    "quick_connect_id": ["", "qc-1", " "],
    "previous_contact_id": ["", "p1", "p1", "p1", "p2", "p" * 257],
    "related_contact_id": ["", "rc-1", "r" * 257],
    "key": ["", "", "k1", "k2", "k3", "0123456789abcdef" * 4],
    "template": [
        "",
        "Full",
        "tpl-full",
        " Full ",
        "Top",
        "tpl-top",
        "Off",
        "NoFlow",
        "Twin",
        "Nope",
    ],
    "Summary": ["", "s", *LONG["text"]],
    "Notes": ["", "n", *LONG["area"]],
    "Amount": ["", "3.5", " -12 ", "1e3", ".5", "nan", "x", "1,000"],
    "Due": [
        "",
        "2030-01-02T09:30:00Z",
        "1893553445",
        "2030-01-02",
        "bad",
        " 1893553445 ",
        "1893553445000",
        "2030-01-02 09:30",
        "12/31/2030 5:00 PM",
    ],
    "Urgent": ["", "true", "FALSE", " True ", "yes"],
    "Priority": ["", "Low", "High", "low", "Medium", "A"],
    "Email": ["", "a@b.co", "bad", "a@b", "x" * 250 + "@b.co", " a@b.co"],
    "Link": ["", "https://h", "HTTP://x.y/z", "ftp://x", "https://", "https://a b"],
    "Me": ["", "yes"],
    "ref": ["", "r", *LONG["ref"]],
    "attr": ["", "v", *LONG["attr"]],
    "unknown": ["", "j", "x" * 3000],
}
TIME_VALUES = ["", "tomorrow", "2031-03-05T10:00:00", "1e3", "99999999999999999999", " 0 "]

#: column -> which value list feeds it
COLUMNS: dict[str, str] = {
    **{c: c for c in VALUES if c not in ("ref", "attr", "unknown")},
    "scheduled_time": "time",
    "When": "time",
    "when2": "time",
    "Task name": "name",
    " TASK NAME ": "name",  # the template field "Task name", folded
    "due ": "Due",
    "Scheduled_Time": "time",
    "title": "name",
    "Details": "description",
    "Assign to": "quick_connect_id",
    "Expiry": "expiry_minutes",
    "flow": "contact_flow_id",
    "id": "key",
    "tmpl": "template",
    "prio": "Priority",
    "sum2": "Summary",
    "attr.k1": "attr",
    "attr.k2": "attr",
    "attr.bad key": "attr",
    "attr.é": "attr",
    "ref.r1": "ref",
    "ref.r2": "ref",
    "ref.Summary": "ref",
    "r9": "ref",
    "ticket": "ref",
    "bad": "attr",
    "cust": "attr",
    "junk": "unknown",
    "extra": "unknown",
    # unnamed columns (empty header cells, as Excel leaves them): in no row, whatever they hold
    "": "unknown",
    " ": "unknown",
    # the columns a result file fed back in adds (mapping.outcome): ignored, not row content
    "row": "unknown",
    "taskloader.message": "unknown",
    "taskloader.line": "unknown",
}

RENAME = {
    "title": "name",
    "id": "key",
    "flow": "contact_flow_id",
    "prio": "Priority",
    "tmpl": "template",
    "bad": "attr.bad key",
    "r9": "ref.r9",
    "sum2": "Summary",
    "when2": "scheduled_time",
}
CONSTANTS = {
    "contact_flow_id": "flow-c",
    "description": "a constant",
    "Summary": "s" * 600,
    "attr.region": "eu",
    "ref.src": "batch",
    "Priority": "Medium",
    "scheduled_time": "bad",
    "name": "",
    "quick_connect_id": "qc-c",
    "Email": "c@d.io",
}


def subset(table: dict[str, str]) -> st.SearchStrategy[dict[str, str]]:
    return st.sets(st.sampled_from(sorted(table))).map(lambda ks: {k: table[k] for k in ks})


def cell(kind: str, offsets: Sequence[int]) -> st.SearchStrategy[Any]:
    if kind == "time":
        styles = st.sampled_from(["Z", "+02:00", "epoch", "ms", "local", "us"])
        whens = st.builds(When, st.sampled_from(offsets), styles)
        return st.one_of(whens, whens, st.sampled_from(TIME_VALUES))
    text = SMALL_TEXT
    return st.one_of(st.sampled_from(VALUES[kind]), st.sampled_from(VALUES[kind]), text)


@dataclass
class Case:
    settings: dict[str, Any]
    header: list[str]
    records: list[list[Any]]
    lineterminator: str
    quoting: int
    sizes: list[int]


@st.composite
def cases(draw: st.DrawFn, offsets: Sequence[int]) -> Case:
    mapping = {
        "rename": draw(subset(RENAME)),
        "constants": draw(subset(CONSTANTS)),
        "attributes": sorted(draw(st.sets(st.sampled_from(["cust", "Summary", "junk"])))),
        "references": sorted(draw(st.sets(st.sampled_from(["ticket", "Notes", "extra"])))),
        "ignore": sorted(draw(st.sets(st.sampled_from(["junk", "key", "Urgent", "template"])))),
    }
    default = draw(st.sampled_from([None, "Full", "Top", "Off", "NoFlow", "Nope", "Twin"]))
    header = draw(
        st.lists(st.sampled_from(sorted(COLUMNS)), unique=True, min_size=1, max_size=12).filter(
            # a header naming a column (one of empty names only is a blank row, skipped, or
            # refused), without names that collide once folded (refused)
            lambda h: (
                len({c.strip().casefold() for c in h if c.strip()})
                == len([c for c in h if c.strip()])
                > 0
            )
        )
    )
    row = st.tuples(*(cell(COLUMNS[c], offsets) for c in header)).map(list)
    records = draw(st.lists(row, min_size=1, max_size=30))
    for i, j in draw(st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99)), max_size=4)):
        records.insert(j % (len(records) + 1), list(records[i % len(records)]))  # repeats
    if draw(st.integers(0, 3)) == 0:  # a bulk of copies: over 12 rows per previous contact
        copied = records[draw(st.integers(0, len(records) - 1))]
        records += [list(copied) for _ in range(draw(st.integers(12, 16)))]
    for i, how in draw(
        st.lists(st.tuples(st.integers(0, 99), st.sampled_from(["short", "long"])), max_size=3)
    ):
        rec = records[i % len(records)]
        if how == "long":
            rec.extend(["extra"] * draw(st.integers(1, 2)))
        elif len(rec) > 1:
            del rec[draw(st.integers(1, len(rec) - 1)) :]
    return Case(
        settings={
            "template": default,
            "timezone": draw(st.sampled_from([None, "Europe/Paris"])),
            "date_format": draw(st.sampled_from([None, "MM/DD/YYYY h:mm AM/PM"])),
            "strict": draw(st.booleans()),
            "ragged_tolerance": 1000,
            "mapping": mapping,
        },
        header=header,
        records=records,
        lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
        sizes=draw(st.lists(st.integers(1, 9), min_size=1, max_size=4)),
    )


def write_csv(path: Path, case: Case, base: datetime) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator=case.lineterminator, quoting=case.quoting)
        out.writerow(case.header)
        for record in case.records:
            out.writerow([c.render(base) if isinstance(c, When) else c for c in record])


# --- the two paths ----------------------------------------------------------------------------

#: row number -> (line, values, problems)
Outcome = dict[int, tuple[int, dict[str, Any], list[tuple[str, str | None, str]]]]


def triples(problems: Sequence[Problem]) -> list[tuple[str, str | None, str]]:
    return [(str(p.code), p.field, p.message) for p in problems]


def reference(path: Path, settings: Settings, limits: Limits) -> tuple[int, Outcome]:
    """check_row on every row in order, one CrossRowChecks for the file."""
    mapper = Mapper(mapping_config(settings))
    cross = CrossRowChecks()
    out: Outcome = {}
    count = 0
    with open_rows(str(path), source_options(settings)) as reader:
        for row in reader:
            count += 1
            checked = check_row(row, resolve(mapper.template_ref(row)), mapper, limits, cross)
            if checked.problems:
                out[row.number] = (row.line, row.values, triples(checked.problems))
    return count, out


async def fast(path: Path, settings: Settings, sizes: Sequence[int]) -> tuple[int, int, Outcome]:
    """A RecordChecker over RowReader.records read in chunks of ``sizes`` (cycled), in a worker
    thread with templates resolved on the event loop, as `validate` runs it."""
    async with template_cache(settings) as cache:
        preparer = Preparer(cache, mapping_config(settings), limits(settings))
        horizon = preparer.limits.schedule_horizon
        preparer.limits = Limits(schedule_horizon=horizon, clock=lambda: NOW)

        def on_loop(ref: str | None) -> TaskTemplate | Problem | None:
            return anyio.from_thread.run(preparer.resolve, ref)

        def run() -> tuple[int, int, Outcome]:
            out: Outcome = {}
            total = valid = 0
            with open_rows(str(path), source_options(settings)) as reader:
                assert reader.records is not None
                checker = RecordChecker(preparer, str(path), reader.records.header)
                for size in itertools.cycle(sizes):
                    lines, records = reader.records.read(size)
                    if not records:
                        break
                    ok, invalid = checker.check(total + 1, lines, records, on_loop)
                    total += len(records)
                    valid += ok
                    for row, problems in invalid:
                        assert row.number not in out
                        out[row.number] = (row.line, row.values, triples(problems))
            return total, valid, out

        return await anyio.to_thread.run_sync(run)


async def through_validate_file(path: Path, settings: Settings) -> tuple[Any, Outcome]:
    report = path.with_name("report.jsonl")
    async with template_cache(settings) as cache:
        summary = await validate_file(str(path), settings, cache, report=report)
    out: Outcome = {}
    for text in report.read_text(encoding="utf-8").split("\n")[:-1]:  # not splitlines: NEL
        item = json.loads(text)  # the row's values, row, line, the outcome (mapping.outcome)
        problems = [(p["code"], p["field"], p["message"]) for p in item["taskloader.problems"]]
        pairs = list(item.items())[: -len(OUTCOME_FIELDS) - 3]
        (_, number), (_, line) = list(item.items())[len(pairs) : len(pairs) + 2]
        assert number not in out
        out[number] = (line, dict(pairs), problems)
    return summary, out


def settings_for(workdir: Path, **values: Any) -> Settings:
    return Settings(templates_dir=workdir / "templates", **values)


def compare_fast(path: Path, settings: Settings, sizes: Sequence[int]) -> Outcome:
    count, expected = reference(path, settings, Limits(schedule_horizon=HORIZON, clock=lambda: NOW))
    total, valid, got = anyio.run(fast, path, settings, sizes)
    assert total == count
    assert valid == count - len(expected)
    assert got == expected
    return got


# --- the property -----------------------------------------------------------------------------


@settings(
    max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(case=cases(EDGE_OFFSETS))
def test_record_checker_finds_what_check_row_finds(workdir: Path, case: Case) -> None:
    path = workdir / "rows.csv"
    write_csv(path, case, NOW)
    compare_fast(path, settings_for(workdir, **case.settings), case.sizes)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases(SAFE_OFFSETS))
def test_validate_file_reports_what_check_row_finds(workdir: Path, case: Case) -> None:
    path = workdir / "rows.csv"
    write_csv(path, case, datetime.now(UTC).replace(microsecond=0))
    settings_ = settings_for(workdir, **case.settings)
    count, expected = reference(path, settings_, Limits(schedule_horizon=HORIZON))
    default = resolve(case.settings["template"])
    if not isinstance(default, Problem):
        names = tuple(c for c in case.header if c.strip())  # unnamed columns are none
        plan = Mapper(mapping_config(settings_)).plan(default, names)
        if len(plan.unknown) + len(plan.results) == len(names):  # refused: none known
            with pytest.raises(InputFileError, match=r"no known column|looks like data"):
                anyio.run(through_validate_file, path, settings_)
            return
    summary, got = anyio.run(through_validate_file, path, settings_)
    added = set(result_columns(case.header))  # the report leaves an earlier report's columns out
    for n, (line, values, problems) in expected.items():
        expected[n] = (line, {c: v for c, v in values.items() if c not in added}, problems)
    assert (summary.rows, summary.valid, summary.invalid) == (
        count,
        count - len(expected),
        len(expected),
    )
    assert got == expected


# --- targeted examples ------------------------------------------------------------------------


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def codes(outcome: Outcome) -> dict[int, list[str]]:
    return {n: [code for code, _, _ in problems] for n, (_, _, problems) in outcome.items()}


@pytest.mark.parametrize("sizes", [[1], [2], [512]])
def test_ragged_records_share_duplicate_detection_with_whole_ones(
    workdir: Path, sizes: list[int]
) -> None:
    path = write_lines(
        workdir / "ragged.csv",
        "name,contact_flow_id,Notes",
        "a,f,x",
        "a,f,x,extra",  # cut to the header: the same cells as row 1
        "b,f",  # padded: the same cells as row 4
        "b,f,",
        "c,f,",
        "c,f",
        "c,f,y",  # differs from 5 and 6
    )
    got = compare_fast(path, settings_for(workdir, ragged_tolerance=5), sizes)
    assert codes(got) == {
        2: ["ragged_row", "duplicate_key"],
        3: ["ragged_row"],
        4: ["duplicate_key"],
        6: ["ragged_row", "duplicate_key"],
    }
    assert got[2][:2] == (3, {"name": "a", "contact_flow_id": "f", "Notes": "x"})
    assert got[3][:2] == (4, {"name": "b", "contact_flow_id": "f"})


def test_a_short_record_keys_by_the_key_column_it_still_has(workdir: Path) -> None:
    """`id` is renamed to `key` and a `key` column follows: a record cut before `key` is keyed by
    its `id`, as check_row keys it."""
    path = write_lines(
        workdir / "short_keys.csv",
        "name,id,key,contact_flow_id",
        "a,k1,k9,f",
        "b,k1",  # ragged: keyed by id
        "c,k1,k8,f",
        "d,k1",  # ragged: the same id as row 2
    )
    settings_ = settings_for(workdir, ragged_tolerance=5, mapping={"rename": {"id": "key"}})
    got = compare_fast(path, settings_, [1, 4])
    assert codes(got)[4] == ["ragged_row", "no_flow", "duplicate_key"]


def test_ragged_records_with_keys(workdir: Path) -> None:
    path = write_lines(
        workdir / "ragged_keys.csv",
        "key,name,contact_flow_id",
        "k1,a,f",
        "k1,b",  # ragged, same key
        "k2,c,f,zz",
        "k2,d,f",
        ",e",  # ragged, no key: content
        ",e,",
    )
    got = compare_fast(path, settings_for(workdir, ragged_tolerance=5), [2])
    assert codes(got) == {
        2: ["ragged_row", "no_flow", "duplicate_key"],
        3: ["ragged_row"],
        4: ["duplicate_key"],
        5: ["ragged_row", "no_flow"],
        6: ["no_flow", "duplicate_key"],
    }


def test_a_short_record_keys_by_its_own_key_column(workdir: Path) -> None:
    """Two columns feed `key` (``id`` renamed, and ``key``): the last one present wins, so a
    record too short to hold ``key`` is keyed by ``id`` (found by hypothesis)."""
    path = write_lines(workdir / "two_keys.csv", "junk,id,key,name", ",k1", ",k1,,", ",k1,,")
    settings = settings_for(workdir, ragged_tolerance=5, mapping={"rename": {"id": "key"}})
    got = compare_fast(path, settings, [1])
    # Row 1 is keyed k1; rows 2 and 3 (padded, the same cells as row 1) by their content.
    assert "duplicate_key" not in codes(got)[2]
    assert codes(got)[3][-1] == "duplicate_key"


def test_unknown_and_ambiguous_template_rows(workdir: Path) -> None:
    path = write_lines(
        workdir / "unknown.csv",
        "template,name,Priority,Email",
        ",one,Low,a@b.co",
        "Nope,two,Low,a@b.co",
        "Nope,two,Low,a@b.co",
        "Twin,three,,",
        "tpl-twin-1,four,,",
        " Nope ,five,Low,a@b.co",
        ",six,Low,a@b.co",
    )
    got = compare_fast(path, settings_for(workdir, template="Full"), [3])
    assert codes(got) == {
        2: ["unknown_template"],
        3: ["unknown_template", "duplicate_key"],
        4: ["ambiguous_template"],
        6: ["unknown_template"],
    }
    assert got[2][2][0][1] == "template"


def test_key_column_empty_on_some_rows(workdir: Path) -> None:
    path = write_lines(
        workdir / "keys.csv",
        "key,name,contact_flow_id",
        "k1,a,f",
        ",a,f",
        ",a,f",  # same cells as row 2
        "k1,b,f",  # same key as row 1
        ",b,f",
        "k2,a,f",
    )
    for sizes in ([1], [4], [100]):
        got = compare_fast(path, settings_for(workdir), sizes)
        assert codes(got) == {3: ["duplicate_key"], 4: ["duplicate_key"]}


def test_rows_naming_different_templates_in_one_file(workdir: Path) -> None:
    when = When(DAY, "Z").render(NOW)
    path = write_lines(
        workdir / "mixed.csv",
        "template,name,Summary,Priority,Email,Task name,Assign to,When,Expiry,contact_flow_id,Me",
        "Full,a,s,High,a@b.co,,,,,,",
        f"Top,,s,,,Tn,qc,{when},60,,me",
        "Off,c,,A,,,,,,,",
        "NoFlow,d,,,bad,,,,,,",
        ",e,,,,,,,,flow-x,",
        "tpl-top,,,,,,,,,,",
        "Full,a,s,High,a@b.co,,,,,,",
    )
    for sizes in ([1], [3], [100]):
        got = compare_fast(path, settings_for(workdir), sizes)
        assert codes(got) == {
            # Top: Me is SELF_ASSIGN (cannot be set from a file, and as a required field it is
            # not checked), its Link default is "" (not a URL), Ghost is no field.
            2: ["unsupported_field", "invalid_url"],
            3: ["template_inactive", "required_field_missing"],  # Off: Summary
            4: [
                "invalid_email",
                "text_too_long",  # NoFlow's 5000-character default for Notes
                "invalid_number",  # and its default Amount
                "no_flow",
                "required_field_missing",  # Due (Notes has a value, its refused default)
            ],
            6: ["invalid_url", "name_missing", "no_flow", *["required_field_missing"] * 5],
            7: ["duplicate_key"],
        }
        assert [f for _, f, _ in got[4][2]] == [
            "Email",
            "Notes",
            "Amount",
            "contact_flow_id",
            "Due",
        ]


def test_a_required_field_whose_value_is_refused_is_not_also_missing(workdir: Path) -> None:
    """The example Callback template: a value given for a required field and refused gets its
    value problem only, in both paths; an empty cell is still missing (or takes the default)."""
    path = write_lines(
        workdir / "callback.csv",
        "Task name,Customer name,Account number,Reason",
        "a,Ana,123,Bogus",
        'b,Bo,"1,5",Billing',
        "c,Cy,,",  # no account number; Reason takes its default, Other
        "d,,x,",
    )
    for sizes in ([1], [3]):
        got = compare_fast(path, settings_for(workdir, template="Callback"), sizes)
        fields = {n: [(c, f) for c, f, _ in problems] for n, (_, _, problems) in got.items()}
        assert fields == {
            1: [("invalid_option", "Reason")],
            2: [("invalid_number", "Account number")],
            3: [("required_field_missing", "Account number")],
            4: [("invalid_number", "Account number"), ("required_field_missing", "Customer name")],
        }


@pytest.mark.parametrize("sizes", [[1], [2], [512]])
def test_unnamed_columns_are_in_no_row(workdir: Path, sizes: list[int]) -> None:
    """Excel's empty header cells: their cells are in no row's values and no content key, in
    both paths; a record with values only there is a row, with no values."""
    path = write_lines(
        workdir / "unnamed.csv",
        "name;contact_flow_id; ;Notes;;",
        "a;f;;n;;",
        "a;f;x;n;;y",  # differs from row 1 only in unnamed cells: a duplicate
        ";;x;;;",  # values only in unnamed columns: a row with none
        "b;f;;n",  # ragged: no cells for the last two unnamed columns
        "b;f;;n;;",  # the same as row 4 once padded
    )
    got = compare_fast(path, settings_for(workdir, ragged_tolerance=5), sizes)
    assert codes(got) == {
        2: ["duplicate_key"],
        3: ["name_missing", "no_flow"],
        4: ["ragged_row"],
        5: ["duplicate_key"],
    }
    assert got[2][:2] == (3, {"name": "a", "contact_flow_id": "f", "Notes": "n"})
    assert got[3][:2] == (4, {"name": "", "contact_flow_id": "", "Notes": ""})


def test_more_than_twelve_rows_sharing_a_previous_contact(workdir: Path) -> None:
    lines = ["name,contact_flow_id,previous_contact_id"]
    lines += [f"t{i},f,{'p1' if i % 2 else 'p2'}" for i in range(30)]
    path = write_lines(workdir / "previous.csv", *lines)
    got = compare_fast(path, settings_for(workdir), [7])
    # p1 on rows 2, 4, ..., p2 on rows 1, 3, ...: the 13th of each and later are over.
    over_p1 = [2 * k for k in range(13, 16)]
    over_p2 = [2 * k - 1 for k in range(13, 16)]
    assert codes(got) == {n: ["previous_contact_limit"] for n in sorted(over_p1 + over_p2)}


def test_validate_file_across_record_chunks(workdir: Path) -> None:
    """More rows than one read of validate's (RECORD_CHUNK): cross-row state spans chunks."""
    n = RECORD_CHUNK * 2 + 100
    lines = ["key,name,previous_contact_id,Summary"]  # "Full" has its own flow
    for i in range(1, n + 1):
        key = "dup" if i in (5, RECORD_CHUNK + 3) else ""
        previous = "shared" if i % 300 == 0 else ""
        summary = "s" * 512 if i == RECORD_CHUNK else "ok"
        name = "same" if i in (7, 2 * RECORD_CHUNK + 1) else f"t{i}"
        lines.append(f"{key},{name},{previous},{summary}")
    path = write_lines(workdir / "big.csv", *lines)
    settings_ = settings_for(workdir, template="Full")
    count, expected = reference(path, settings_, Limits(schedule_horizon=HORIZON))
    summary, got = anyio.run(through_validate_file, path, settings_)
    assert got == expected
    assert summary.rows == count == n
    c = codes(got)
    shared = [i for i in range(1, n + 1) if i % 300 == 0]
    want: dict[int, list[str]] = {i: ["required_field_missing"] * 2 for i in range(1, n + 1)}
    want[RECORD_CHUNK].insert(0, "text_too_long")
    want[RECORD_CHUNK + 3].append("duplicate_key")
    want[2 * RECORD_CHUNK + 1].append("duplicate_key")
    for i in shared[12:]:
        want[i].append("previous_contact_limit")
    assert c == want


# --- once bugs: the helper tests that found them -----------------------------------------------


def test_nested_column_names_duplicates(workdir: Path) -> None:
    """A CSV column named ``fields`` (``attributes``, ``references``) is flattened away before
    `run`'s content key is taken: rows that differ only in that cell are duplicates for both."""
    path = write_lines(workdir / "nested.csv", "name,contact_flow_id,fields", "a,f,x", "a,f,y")
    got = compare_fast(path, settings_for(workdir), [2])
    assert codes(got) == {1: ["invalid_value"], 2: ["invalid_value", "duplicate_key"]}


def test_invalid_attribute_keys_in_the_order_the_attributes_were_set(workdir: Path) -> None:
    """Two columns feed attribute ``bad key``; the first is empty, so ``é`` is set first and
    both paths report it first."""
    path = write_lines(
        workdir / "attr_order.csv", "attr.bad key,attr.é,b,name,contact_flow_id", ",v,w,n,f"
    )
    settings_ = settings_for(workdir, mapping={"rename": {"b": "attr.bad key"}})
    got = compare_fast(path, settings_, [1])
    assert [f for _, f, _ in got[1][2]] == ["attr.é", "attr.bad key"]


def test_a_superscript_digit_expiry_is_a_row_problem(workdir: Path) -> None:
    """``"¹".isdigit()`` is true but ``int("¹")`` raises: this once crashed both paths."""
    path = write_lines(workdir / "expiry.csv", "name,contact_flow_id,expiry_minutes", "a,f,¹")
    got = compare_fast(path, settings_for(workdir), [1])
    assert codes(got) == {1: ["invalid_expiry"]}


def test_non_ascii_digits_are_not_minutes_or_epoch_seconds(workdir: Path) -> None:
    """Arabic-Indic digits pass ``isdigit`` and ``int``, but are not what the API takes."""
    path = write_lines(
        workdir / "digits.csv",
        "name,contact_flow_id,expiry_minutes,scheduled_time",
        "a,f,٣٠,",
        "b,f,30,١٧٠٠٠٠٠٠٠٠",
    )
    got = compare_fast(path, settings_for(workdir), [1])
    assert codes(got) == {1: ["invalid_expiry"], 2: ["invalid_scheduled_time"]}


def test_each_template_name_is_resolved_once_however_many_rows_fall_back(workdir: Path) -> None:
    """Rows naming an unknown template, and ragged rows, take check_row one by one; the name
    is still resolved once (each resolve is a round trip to the event loop in `validate`)."""
    lines = ["template,name,contact_flow_id"]
    lines += [f"Nope,row {i},f" if i % 3 else f"Nope,row {i}" for i in range(300)]
    lines += [f",other {i},f,extra" for i in range(5)]
    path = write_lines(workdir / "resolves.csv", *lines)
    asked: list[str | None] = []

    def counting(ref: str | None) -> TaskTemplate | Problem | None:
        asked.append(ref)
        return resolve(ref)

    settings = settings_for(workdir, template="Full", ragged_tolerance=200)
    preparer = Preparer(None, mapping_config(settings), limits(settings))  # type: ignore[arg-type]  # no cache: resolve is given
    with open_rows(str(path), source_options(settings)) as reader:
        assert reader.records is not None
        checker = RecordChecker(preparer, str(path), reader.records.header)
        lines_, records = reader.records.read(1_000)
        valid, invalid = checker.check(1, lines_, records, counting)
    assert sorted(asked, key=str) == ["Full", "Nope"]
    assert valid == 0
    assert len(invalid) == 305
    assert all(p[0].code == "unknown_template" or p[0].code == "ragged_row" for _, p in invalid)
