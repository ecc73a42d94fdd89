"""Settings: precedence flags > env > file > defaults, typed coercion, clear errors, safe repr."""

from pathlib import Path

import pytest

from taskloader.errors import UsageError
from taskloader.settings import Settings, ignored_env, instance_id_of, load_settings, region_of


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "taskloader.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_safe_for_a_default_quota_account() -> None:
    s = load_settings(environ={})
    assert s.rate == 2.0 and s.burst == 5
    assert s.grace_period < 30  # under ECS's stop timeout


def test_flags_beat_env_beat_file_beat_defaults(tmp_path: Path) -> None:
    cfg = write(tmp_path, 'rate = 1.5\nburst = 3\nconcurrency = 7\nregion = "eu-west-2"\n')
    env = {"TASKLOADER_RATE": "1.0", "TASKLOADER_BURST": "2"}
    s = load_settings(cfg, environ=env, flags={"rate": 0.5, "burst": None})
    assert s.rate == 0.5  # flag
    assert s.burst == 2  # env (flag unset)
    assert s.concurrency == 7  # file
    assert s.region == "eu-west-2"
    assert s.max_attempts == Settings().max_attempts  # default


def test_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    cfg = write(tmp_path, "[taskloader]\nrate = 0.25\n[mapping]\nignore = ['notes']\n")
    s = load_settings(environ={"TASKLOADER_CONFIG": str(cfg)})
    assert s.rate == 0.25
    assert s.mapping == {"ignore": ["notes"]}


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"TASKLOADER_RATE": "fast"}, "TASKLOADER_RATE"),
        ({"TASKLOADER_STRICT": "maybe"}, "TASKLOADER_STRICT"),
        ({"TASKLOADER_RATE": "0"}, "rate must be > 0"),
        ({"TASKLOADER_MAX_FAILURE_RATE": "2"}, "max_failure_rate"),
    ],
)
def test_bad_values_name_their_origin(env: dict[str, str], needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        load_settings(environ=env)


def test_bad_config_files_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})
    with pytest.raises(UsageError, match="not valid TOML"):
        load_settings(write(tmp_path, "rate = = 2"), environ={})
    with pytest.raises(UsageError, match="unknown setting 'speed'"):
        load_settings(write(tmp_path, "speed = 2"), environ={})


def test_booleans_and_paths_are_coerced(tmp_path: Path) -> None:
    s = load_settings(environ={"TASKLOADER_STRICT": "yes", "TASKLOADER_TEMPLATES_DIR": "~/t"})
    assert s.strict is True
    assert s.templates_dir == Path("~/t").expanduser()


def test_repr_hides_credentials_in_urls() -> None:
    s = load_settings(environ={}, flags={"endpoint_url": "https://user:s3cret@example.com:8443/x"})
    text = repr(s)
    assert "s3cret" not in text and "user" not in text
    assert "example.com:8443" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc-123", "abc-123"),
        ("arn:aws:connect:eu-west-2:123456789012:instance/abc-123", "abc-123"),
    ],
)
def test_instance_id_accepts_ids_and_arns(value: str, expected: str) -> None:
    assert instance_id_of(value) == expected


def test_instance_arn_gives_region_and_bad_arns_are_refused() -> None:
    assert region_of("arn:aws:connect:eu-west-2:1:instance/x") == "eu-west-2"
    assert region_of("plain-id") is None
    with pytest.raises(UsageError):
        instance_id_of("arn:aws:connect:eu-west-2:1:queue/x")


# --- the environment and AWS conventions (issue 15) -------------------------------------------

ARN = "arn:aws:connect:eu-west-2:111122223333:instance/i-abc"


def test_unknown_taskloader_variables_are_ignored_and_named_for_a_debug_note() -> None:
    env = {"TASKLOADER_ENV": "prod", "TASKLOADER_CONCURENCY": "3", "TASKLOADER_RATE": "1.5"}
    s = load_settings(environ=env)
    assert s.rate == 1.5 and s.concurrency == Settings().concurrency
    assert ignored_env(env) == ["TASKLOADER_CONCURENCY", "TASKLOADER_ENV"]
    assert ignored_env({"TASKLOADER_CONFIG": "x.toml", "TASKLOADER_RATE": "1"}) == []


@pytest.mark.parametrize(
    ("env", "flags", "expected"),
    [
        ({"AWS_REGION": "eu-west-1"}, {}, "eu-west-1"),  # botocore alone reads only the next
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}, {}, "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "us-west-2"}, {}, None),  # left to botocore, then the profile
        ({"AWS_REGION": "eu-west-1"}, {"region": "ap-south-1"}, "ap-south-1"),
        ({"AWS_REGION": "eu-west-1"}, {"instance_id": ARN}, "eu-west-2"),  # the ARN says
        ({}, {"instance_id": ARN, "region": "eu-west-2"}, "eu-west-2"),
    ],
)
def test_region_is_the_setting_then_the_arn_then_aws_region(
    env: dict[str, str], flags: dict[str, str], expected: str | None
) -> None:
    assert load_settings(environ=env, flags=flags).region == expected


def test_an_arn_in_another_region_than_the_setting_is_an_error_naming_both() -> None:
    with pytest.raises(UsageError) as caught:
        load_settings(environ={"TASKLOADER_REGION": "us-east-1"}, flags={"instance_id": ARN})
    assert "eu-west-2" in str(caught.value) and "us-east-1" in str(caught.value)


def test_ids_and_names_are_trimmed() -> None:
    env = {"TASKLOADER_INSTANCE_ID": " i-abc\n", "TASKLOADER_TEMPLATE": "Callback "}
    s = load_settings(environ=env, flags={"region": " eu-west-2 "})
    assert (s.instance_id, s.template, s.region) == ("i-abc", "Callback", "eu-west-2")
    assert load_settings(environ={}, flags={"instance_id": f" {ARN} "}).region == "eu-west-2"


@pytest.mark.parametrize(
    ("given", "delimiter"),
    [("\\t", "\t"), ("tab", "\t"), ("TAB", "\t"), ("\t", "\t"), (";", ";"), ("pipe", "|")],
)
def test_a_tab_delimiter_can_be_typed(given: str, delimiter: str) -> None:
    assert load_settings(environ={}, flags={"delimiter": given}).delimiter == delimiter


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        ({"delimiter": ";;"}, "delimiter"),
        ({"encoding": "klingon"}, "encoding 'klingon'"),
        ({"timezone": "Mars/Olympus"}, "IANA"),
    ],
)
def test_bad_reading_settings_are_usage_errors(flags: dict[str, str], needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        load_settings(environ={}, flags=flags)


@pytest.mark.parametrize(("ttl", "ok"), [(1, True), (604_800, True), (0, False), (604_801, False)])
def test_the_attachment_url_ttl_is_within_sigv4s_limit(ttl: int, ok: bool) -> None:
    """A SigV4 presigned URL lives 1 s to 7 days; the default leaves an hour."""
    assert load_settings(environ={}).attachment_url_ttl == 3600
    env = {"TASKLOADER_ATTACHMENT_URL_TTL": str(ttl)}
    if ok:
        assert load_settings(environ=env).attachment_url_ttl == ttl
    else:
        with pytest.raises(UsageError, match="attachment_url_ttl"):
            load_settings(environ=env)


@pytest.mark.parametrize(
    ("flag", "value"),
    [("grace_period", -1.0), ("row_deadline", float("nan")), ("read_timeout", 0.0),
     ("quota_wait", -5.0)],
)  # fmt: skip
def test_a_negative_or_meaningless_duration_is_a_usage_error(flag: str, value: float) -> None:
    with pytest.raises(UsageError, match=flag):
        load_settings(flags={flag: value}, environ={})
