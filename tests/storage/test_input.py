"""Streaming an input object from S3: chunked reads, .gz, fingerprints, dropped connections."""

import gzip
import os
from typing import Any

import pytest
from botocore.exceptions import ResponseStreamingError

from taskloader.aws import AwsOptions
from taskloader.errors import InputFileError
from taskloader.input.readers import SourceOptions, read_rows
from taskloader.input.s3 import S3ObjectStream, head_s3_input, open_s3_input
from taskloader.storage.s3 import S3Url


def csv_bytes(rows: int) -> bytes:
    """A CSV whose rows are random hex, so it hardly compresses (a big .gz stays big)."""
    lines = [b"id,payload"] + [b"%d,%s" % (i, os.urandom(48).hex().encode()) for i in range(rows)]
    return b"\n".join(lines) + b"\n"


def fetched(stream: Any) -> int:
    """Bytes taken from S3 so far, through the gzip and buffer layers."""
    buffered = stream.fileobj if isinstance(stream, gzip.GzipFile) else stream
    raw = buffered.raw
    assert isinstance(raw, S3ObjectStream)
    return raw.bytes_fetched


@pytest.mark.parametrize("key", ["in/orders.csv", "in/orders.csv.gz"])
def test_the_first_row_arrives_long_before_the_object_is_fetched_whole(
    client: Any, bucket: str, aws: AwsOptions, key: str
) -> None:
    content = csv_bytes(20_000)  # about 2 MB
    body = gzip.compress(content) if key.endswith(".gz") else content
    client.put_object(Bucket=bucket, Key=key, Body=body)
    url = S3Url(bucket, key)

    with open_s3_input(url, aws) as stream:
        rows = read_rows(stream, str(url), SourceOptions())  # gunzips by the name
        first = next(rows)
        early = fetched(stream)
        rest = list(rows)
        total = fetched(stream)

    assert first.values["id"] == "0"
    assert early < len(body) // 4
    assert len(rest) == 19_999 and rest[-1].values["id"] == "19999"
    assert total == len(body)


def test_decompress_gunzips_a_gz_key_and_otherwise_the_stored_bytes_come_out(
    client: Any, bucket: str, aws: AwsOptions
) -> None:
    content = csv_bytes(100)
    client.put_object(Bucket=bucket, Key="in.csv.gz", Body=gzip.compress(content))
    url = S3Url(bucket, "in.csv.gz")
    with open_s3_input(url, aws, decompress=True) as stream:
        assert stream.read() == content
    with open_s3_input(url, aws) as stream:
        assert gzip.decompress(stream.read()) == content


def test_an_empty_object_reads_as_empty(client: Any, bucket: str, aws: AwsOptions) -> None:
    client.put_object(Bucket=bucket, Key="empty.csv", Body=b"")
    with open_s3_input(S3Url(bucket, "empty.csv"), aws) as stream:
        assert stream.read() == b""


def test_the_fingerprint_is_stable_and_changes_when_the_object_changes(
    client: Any, bucket: str, aws: AwsOptions
) -> None:
    url = S3Url(bucket, "in.csv")
    client.put_object(Bucket=bucket, Key=url.key, Body=b"a,b\n1,2\n")
    first = head_s3_input(url, aws)
    assert head_s3_input(url, aws, client=client).fingerprint == first.fingerprint
    assert first.size == 8 and first.fingerprint.startswith("s3:")

    client.put_object(Bucket=bucket, Key=url.key, Body=b"a,b\n1,3\n")
    second = head_s3_input(url, aws)
    assert second.etag != first.etag
    assert second.fingerprint != first.fingerprint


def test_reading_with_the_fingerprinted_etag_refuses_a_replaced_object(
    client: Any, bucket: str, aws: AwsOptions
) -> None:
    url = S3Url(bucket, "in.csv")
    client.put_object(Bucket=bucket, Key=url.key, Body=b"a\n1\n")
    info = head_s3_input(url, aws)
    client.put_object(Bucket=bucket, Key=url.key, Body=b"a\n2\n")

    with (
        pytest.raises(InputFileError, match="replaced") as err,
        open_s3_input(url, aws, if_match=info.etag),
    ):
        pass
    assert err.value.source == str(url)


@pytest.mark.parametrize(
    ("setup", "message"),
    [("no-key", "no such S3 object"), ("no-bucket", "no such (S3 )?bucket")],
)
def test_a_missing_input_is_a_file_error_naming_the_url(
    client: Any, bucket: str, aws: AwsOptions, setup: str, message: str
) -> None:
    url = S3Url(bucket if setup == "no-key" else f"{bucket}-absent", "nope.csv")
    with pytest.raises(InputFileError, match=message) as err:
        head_s3_input(url, aws)
    assert str(url) in str(err.value) and err.value.exit_code == 2
    with pytest.raises(InputFileError, match=message), open_s3_input(url, aws):
        pass


class DroppingBody:
    """A real S3 body that fails like a reset connection after ``limit`` bytes."""

    def __init__(self, body: Any, limit: int) -> None:
        self.body, self.limit, self.sent = body, limit, 0

    def read(self, n: int) -> bytes:
        if self.sent >= self.limit:
            raise ResponseStreamingError(error="Connection reset by peer")
        data: bytes = self.body.read(min(n, self.limit - self.sent))
        self.sent += len(data)
        return data

    def close(self) -> None:
        self.body.close()


class DroppingClient:
    """The real client; the first ``drops`` GET bodies break after ``limit`` bytes."""

    def __init__(self, real: Any, limit: int, drops: int) -> None:
        self.real, self.limit, self.drops = real, limit, drops
        self.requests: list[dict[str, Any]] = []

    def get_object(self, **kwargs: Any) -> Any:
        self.requests.append(kwargs)
        response = self.real.get_object(**kwargs)
        if self.drops > 0:
            self.drops -= 1
            response["Body"] = DroppingBody(response["Body"], self.limit)
        return response


@pytest.mark.parametrize("key", ["big.csv", "big.csv.gz"])
def test_a_dropped_connection_resumes_at_the_same_byte_of_the_same_version(
    client: Any, bucket: str, aws: AwsOptions, key: str
) -> None:
    content = csv_bytes(5_000)
    body = gzip.compress(content) if key.endswith(".gz") else content
    client.put_object(Bucket=bucket, Key=key, Body=body)
    dropping = DroppingClient(client, limit=100_000, drops=2)

    with open_s3_input(S3Url(bucket, key), aws, client=dropping, decompress=True) as stream:
        assert stream.read() == content

    assert [r.get("Range") for r in dropping.requests] == [
        None,
        "bytes=100000-",
        "bytes=200000-",
    ]
    etag = client.head_object(Bucket=bucket, Key=key)["ETag"]
    assert all(r["IfMatch"] == etag for r in dropping.requests[1:])


def test_a_reopen_after_the_object_was_replaced_fails_instead_of_mixing_versions(
    client: Any, bucket: str, aws: AwsOptions
) -> None:
    client.put_object(Bucket=bucket, Key="in.csv", Body=csv_bytes(3_000))
    dropping = DroppingClient(client, limit=50_000, drops=1)
    with open_s3_input(S3Url(bucket, "in.csv"), aws, client=dropping) as stream:
        stream.read(1000)
        client.put_object(Bucket=bucket, Key="in.csv", Body=b"other\n")
        with pytest.raises(InputFileError, match="replaced"):
            stream.read()


def test_reading_gives_up_after_too_many_drops(client: Any, bucket: str, aws: AwsOptions) -> None:
    client.put_object(Bucket=bucket, Key="in.csv", Body=csv_bytes(1_000))
    dropping = DroppingClient(client, limit=10_000, drops=100)
    with (
        open_s3_input(S3Url(bucket, "in.csv"), aws, client=dropping, max_reopens=3) as stream,
        pytest.raises(InputFileError, match="failed 4 times, last at byte 40000"),
    ):
        stream.read()
