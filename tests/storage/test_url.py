"""S3 URLs: parsing, objects versus prefixes, joining."""

import pytest

from taskloader.errors import UsageError
from taskloader.storage.s3 import S3Url, is_s3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s3://bucket/key.csv", True),
        ("s3://bucket", True),
        ("S3://bucket/key", False),
        ("/data/in.csv", False),
        ("https://bucket.s3.amazonaws.com/key", False),
        ("", False),
        (None, False),
    ],
)
def test_is_s3_recognises_only_the_s3_scheme(text: str | None, expected: bool) -> None:
    assert is_s3(text) is expected


def test_an_object_url_splits_into_bucket_and_key_and_prints_back() -> None:
    url = S3Url.parse_object("s3://my-bucket/in/2024/orders.csv.gz")
    assert (url.bucket, url.key) == ("my-bucket", "in/2024/orders.csv.gz")
    assert url.name == "orders.csv.gz"
    assert url.is_gzip and not url.is_prefix
    assert str(url) == "s3://my-bucket/in/2024/orders.csv.gz"


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        ("s3://b-1/out", "out/"),
        ("s3://b-1/out/", "out/"),
        ("s3://b-1/a/b/c", "a/b/c/"),
        ("s3://b-1", ""),
        ("s3://b-1/", ""),
    ],
)
def test_an_output_location_is_always_a_prefix(text: str, prefix: str) -> None:
    url = S3Url.parse_prefix(text)
    assert url.key == prefix and url.is_prefix
    assert url.join("ledger.sqlite").key == prefix + "ledger.sqlite"


@pytest.mark.parametrize(
    "text",
    ["s3://bucket/", "s3://bucket", "s3://bucket/dir/"],
)
def test_an_input_must_name_an_object(text: str) -> None:
    with pytest.raises(UsageError, match="not a prefix"):
        S3Url.parse_object(text)


@pytest.mark.parametrize(
    "text",
    ["s3://", "s3:///key", "s3://Upper/key", "s3://ab/key", "s3://bad..dots/key", "s3://-x-/k"],
)
def test_invalid_bucket_names_are_usage_errors_naming_the_url(text: str) -> None:
    with pytest.raises(UsageError) as info:
        S3Url.parse(text)
    assert repr(text) in str(info.value)
    assert info.value.exit_code == 2


def test_a_path_is_not_an_s3_url() -> None:
    with pytest.raises(UsageError, match="not an S3 URL"):
        S3Url.parse("/tmp/in.csv")
