"""The template cache: ids and names resolve, one fetch per template, disk cache with a TTL."""

import json
import os
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from taskloader.templates.cache import (
    DirTemplateSource,
    TemplateCache,
    TemplateLookupError,
    TemplateSummary,
)
from taskloader.templates.model import FieldType, TaskTemplate, TemplateField


def make(tid: str, name: str, status: str = "ACTIVE") -> TaskTemplate:
    return TaskTemplate(
        id=tid,
        arn=f"arn:aws:connect:us-east-1:1:instance/i/task-template/{tid}",
        name=name,
        status=status,
        fields=(TemplateField("Amount", FieldType.NUMBER),),
        required=frozenset({"Amount"}),
        defaults={"Amount": "1"},
    )


class CountingSource:
    """An in-memory TemplateSource that counts calls and yields to other tasks while 'fetching'."""

    def __init__(self, templates: Sequence[TaskTemplate]) -> None:
        self.templates = {t.id: t for t in templates}
        self.list_calls = 0
        self.get_calls: dict[str, int] = {}

    async def list(self) -> Sequence[TemplateSummary]:
        self.list_calls += 1
        await anyio.sleep(0.01)
        return [TemplateSummary(t.id, t.name, t.status) for t in self.templates.values()]

    async def get(self, template_id: str) -> TaskTemplate:
        self.get_calls[template_id] = self.get_calls.get(template_id, 0) + 1
        await anyio.sleep(0.01)
        return self.templates[template_id]


async def test_many_concurrent_askers_cause_one_list_and_one_fetch_per_template() -> None:
    source = CountingSource([make("t1", "Callback"), make("t2", "Claim")])
    cache = TemplateCache(source)
    results: list[str] = []

    async def ask(ref: str) -> None:
        results.append((await cache.resolve(ref)).id)

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(ask, ["Callback", "t1", "Claim", "t2"][i % 4])
    assert source.list_calls == 1
    assert source.get_calls == {"t1": 1, "t2": 1}
    assert sorted(set(results)) == ["t1", "t2"]


@pytest.mark.parametrize(
    ("templates", "ref", "code"),
    [
        ([make("t1", "Callback")], "Nope", "unknown_template"),
        ([make("t1", "Dup"), make("t2", "Dup")], "Dup", "ambiguous_template"),
    ],
)
async def test_unknown_and_ambiguous_names_are_lookup_errors(
    templates: list[TaskTemplate], ref: str, code: str
) -> None:
    cache = TemplateCache(CountingSource(templates))
    with pytest.raises(TemplateLookupError) as info:
        await cache.resolve(ref)
    assert info.value.code == code
    assert info.value.ref == ref


async def test_a_name_shared_with_an_inactive_template_resolves_to_the_active_one() -> None:
    cache = TemplateCache(CountingSource([make("t1", "Dup", "INACTIVE"), make("t2", "Dup")]))
    assert (await cache.resolve("Dup")).id == "t2"


async def test_directory_source_round_trips_pulled_files(tmp_path: Path) -> None:
    original = make("t9", "Offline")
    (tmp_path / "t9.json").write_text(json.dumps(original.to_api()), encoding="utf-8")
    cache = TemplateCache(DirTemplateSource(tmp_path))
    assert await cache.resolve("Offline") == original


async def test_disk_cache_serves_fresh_entries_and_refetches_stale_ones(tmp_path: Path) -> None:
    source = CountingSource([make("t1", "Callback")])
    await TemplateCache(source, disk_dir=tmp_path, ttl=60).resolve("t1")
    await TemplateCache(source, disk_dir=tmp_path, ttl=60).resolve("t1")
    assert source.get_calls == {"t1": 1}  # second run read the disk cache
    old = (tmp_path / "t1.json").stat().st_mtime - 120
    os.utime(tmp_path / "t1.json", (old, old))
    await TemplateCache(source, disk_dir=tmp_path, ttl=60).resolve("t1")
    assert source.get_calls == {"t1": 2}  # stale entry refetched
