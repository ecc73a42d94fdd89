"""Attachments in input rows: ``attachment.<file name>`` columns, a JSONL ``attachments`` list,
the model's limits and the stable problem codes (through the mapper, the path `run` takes)."""

from __future__ import annotations

from typing import Any

import pytest

from taskloader.mapping.attachments import attachment_limits
from taskloader.mapping.config import MappingConfig
from taskloader.mapping.mapper import Mapped, Mapper
from taskloader.mapping.rules import Code
from tests.input.helpers import row

BASE = {"name": "Claim 17", "contact_flow_id": "flow-1"}
S3 = "s3://claims-bucket/2026/claim-17.pdf"
HTTPS = "https://files.example.com/photo.jpg?token=abc"


def mapped(values: dict[str, Any], **config: Any) -> Mapped:
    return Mapper(MappingConfig(**config)).map_row(row({**BASE, **values}), None)


def codes(result: Mapped) -> list[str]:
    return [p.code for p in result.problems]


def test_the_limits_come_from_the_model() -> None:
    limits = attachment_limits()
    assert (limits.max_count, limits.name_min, limits.name_max, limits.url_max) == (5, 1, 256, 2000)


def test_columns_become_attachments_with_the_urls_as_written() -> None:
    result = mapped({"attachment.claim.pdf": S3, "attachment.photo.jpg": HTTPS})
    assert result.problems == []
    assert result.request.params["Attachments"] == [
        {"FileName": "claim.pdf", "S3Url": S3},
        {"FileName": "photo.jpg", "S3Url": HTTPS},
    ]


@pytest.mark.parametrize("count", [0, 1, 5])
def test_up_to_five_attachments_are_valid(count: int) -> None:
    values = {f"attachment.f{n}.pdf": f"s3://claims-bucket/f{n}.pdf" for n in range(count)}
    result = mapped(values)
    assert result.problems == []
    assert len(result.request.params.get("Attachments", [])) == count


def test_an_empty_cell_means_no_attachment() -> None:
    result = mapped({"attachment.claim.pdf": "", "attachment.photo.jpg": HTTPS})
    assert result.request.params["Attachments"] == [{"FileName": "photo.jpg", "S3Url": HTTPS}]
    result = mapped({"attachment.claim.pdf": ""})
    assert "Attachments" not in result.request.params and result.problems == []


def test_six_attachments_are_a_row_problem() -> None:
    values = {f"attachment.f{n}.pdf": f"s3://claims-bucket/f{n}.pdf" for n in range(6)}
    result = mapped(values)
    assert codes(result) == [Code.TOO_MANY_ATTACHMENTS]
    assert result.problems[0].field == "attachments"
    assert "at most 5" in result.problems[0].message


@pytest.mark.parametrize(
    "url",
    [
        "http://files.example.com/a.pdf",  # neither s3:// nor https://
        "ftp://files.example.com/a.pdf",
        "claims-bucket/a.pdf",
        "s3://Bad_Bucket/claims-bucket.pdf",  # not a bucket name
        "s3://claims-bucket",  # no object
        "s3://claims-bucket/folder/",  # a prefix
        "https://",  # no host
        "https://files.example.com/a b.pdf",  # a blank
        "https://files.example.com/" + "a" * 2000,  # over PreSignedAttachmentUrl's 2000
    ],
)
def test_a_url_that_is_not_an_s3_object_or_https_is_a_row_problem(url: str) -> None:
    result = mapped({"attachment.claim.pdf": url})
    assert codes(result) == [Code.INVALID_ATTACHMENT_URL]
    problem = result.problems[0]
    assert problem.field == "attachment.claim.pdf"
    assert "files.example.com" not in problem.message and "claims-bucket" not in problem.message


@pytest.mark.parametrize("name", ["", "a" * 257, "claim\n.pdf", "claim\u200b.pdf", "tab\t.pdf"])
def test_file_names_follow_the_model(name: str) -> None:
    """FileName: 1 to 256 characters matching ^\\P{C}*$ (no control or format characters)."""
    result = mapped({f"attachment.{name}": S3})
    assert codes(result) == [Code.INVALID_ATTACHMENT_NAME]


@pytest.mark.parametrize("name", ["a" * 256, "Schadensmeldung März 2026.pdf", "写真 1.jpg"])
def test_long_and_non_ascii_file_names_are_fine(name: str) -> None:
    result = mapped({f"attachment.{name}": S3})
    assert result.problems == []
    assert result.request.params["Attachments"] == [{"FileName": name, "S3Url": S3}]


def test_a_jsonl_list_and_flat_keys_together() -> None:
    result = mapped(
        {
            "attachment.claim.pdf": S3,
            "attachments": [{"file_name": "photo.jpg", "url": HTTPS}],
        }
    )
    assert result.problems == []
    assert [a["FileName"] for a in result.request.params["Attachments"]] == [
        "claim.pdf",
        "photo.jpg",
    ]


@pytest.mark.parametrize(
    "value",
    [
        "s3://claims-bucket/a.pdf",
        [{"file_name": "a.pdf"}],
        [{"file_name": "a.pdf", "url": S3, "size": 3}],
        [["a.pdf", S3]],
        [{"file_name": 7, "url": S3}],
    ],
)
def test_a_malformed_jsonl_list_is_a_row_problem(value: Any) -> None:
    result = mapped({"attachments": value})
    assert codes(result) == [Code.INVALID_VALUE]
    assert result.problems[0].field.startswith("attachments")


def test_a_jsonl_list_counts_with_the_columns() -> None:
    listed = [{"file_name": f"l{n}.pdf", "url": S3} for n in range(3)]
    columns = {f"attachment.c{n}.pdf": S3 for n in range(3)}
    assert codes(mapped({**columns, "attachments": listed})) == [Code.TOO_MANY_ATTACHMENTS]


def test_attachment_columns_are_not_unknown_and_feed_the_content_key() -> None:
    mapper = Mapper(MappingConfig(strict=True))
    one = mapper.map_row(row({**BASE, "attachment.claim.pdf": S3}), None)
    other = mapper.map_row(row({**BASE, "attachment.claim.pdf": "s3://claims-bucket/x.pdf"}), None)
    assert one.problems == [] and mapper.unknown_columns == ()
    assert one.request.key != other.request.key


def test_a_renamed_column_can_be_an_attachment() -> None:
    result = mapped({"Claim PDF": S3}, rename={"Claim PDF": "attachment.claim.pdf"})
    assert result.request.params["Attachments"] == [{"FileName": "claim.pdf", "S3Url": S3}]
