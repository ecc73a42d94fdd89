"""moto's S3 in server mode (real HTTP on 127.0.0.1, a free port), and a fresh bucket per test."""

from collections.abc import Iterator
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from taskloader.aws import AwsOptions
from taskloader.settings import Settings
from taskloader.storage.s3 import S3Url, make_s3_client


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def s3_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point botocore's S3 endpoint at moto (tests/conftest.py clears AWS_ENDPOINT_URL*)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    # moto accepts any credential: the tests' own (``aws_env``) serve S3 and the emulator alike.
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return moto_endpoint


@pytest.fixture
def settings() -> Settings:
    return Settings(region="us-east-1")


@pytest.fixture
def aws() -> AwsOptions:
    return AwsOptions(region="us-east-1")


@pytest.fixture
def client(aws: AwsOptions) -> Iterator[Any]:
    c = make_s3_client(aws)
    yield c
    c.close()


_counter = iter(range(1_000_000))


@pytest.fixture
def bucket(client: Any) -> str:
    name = f"tl-test-{next(_counter)}"
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def out(bucket: str) -> S3Url:
    return S3Url(bucket, "nightly/run/")
