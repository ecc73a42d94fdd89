"""A ledger belongs to one target and one input: reopened for another, it refuses, naming both."""

from __future__ import annotations

import pytest

from taskloader.errors import (
    LedgerMismatchError,
    LedgerOtherInputError,
    LedgerTargetError,
)
from taskloader.ledger.store import Ledger, LedgerTarget

from .conftest import OpenLedger, outcome

EP = "http://127.0.0.1:9"
STAGING = LedgerTarget("inst-staging", region="eu-west-2", endpoint=EP + "/")
ARN = "arn:aws:connect:eu-west-2:111111111111:instance/inst-staging"


def sent_one(ledger: Ledger) -> None:
    """Record one row that reached the API, then close: the ledger now has tasks there."""
    ledger.record([outcome(1, "succeeded", attempts=1, contact_id="c1")])
    ledger.close()


def test_the_target_is_stored_and_the_same_target_resumes(open_ledger: OpenLedger) -> None:
    open_ledger(target=STAGING).close()
    # Trailing slash, case of the host: the same endpoint.
    same = LedgerTarget("inst-staging", region="eu-west-2", endpoint="HTTP://127.0.0.1:9")
    open_ledger(target=same).close()


@pytest.mark.parametrize(
    ("other", "named"),
    [
        (LedgerTarget("inst-prod", region="eu-west-2", endpoint=EP), "inst-prod"),
        (LedgerTarget("inst-staging", region="us-east-1", endpoint=EP), "us-east-1"),
        (LedgerTarget("inst-staging", region="eu-west-2", endpoint=None), "the AWS endpoint"),
    ],
)  # fmt: skip
def test_another_instance_region_or_endpoint_is_refused(
    open_ledger: OpenLedger, other: LedgerTarget, named: str
) -> None:
    sent_one(open_ledger(target=STAGING))
    with pytest.raises(LedgerTargetError) as info:
        open_ledger(target=other)
    message = str(info.value)
    assert "instance inst-staging in Region eu-west-2 via http://127.0.0.1:9" in message
    assert named in message
    assert "--force" not in message
    assert info.value.exit_code == 2


def test_another_account_by_arn_is_refused(open_ledger: OpenLedger) -> None:
    sent_one(open_ledger(target=LedgerTarget("inst-staging", region="eu-west-2", instance_arn=ARN)))
    other = ARN.replace("111111111111", "222222222222")
    with pytest.raises(LedgerTargetError, match="222222222222"):
        open_ledger(target=LedgerTarget("inst-staging", region="eu-west-2", instance_arn=other))


def test_a_ledger_with_nothing_sent_follows_the_corrected_target(
    open_ledger: OpenLedger,
) -> None:
    """A first run against a mistyped instance id sent nothing: the corrected run may use the
    same ledger (nothing there could be skipped as done)."""
    typo = LedgerTarget("inst-stagign", region="eu-west-2", endpoint=EP)
    open_ledger(target=typo).close()
    sent_one(open_ledger(target=STAGING))
    with pytest.raises(LedgerTargetError, match="inst-staging"):
        open_ledger(target=typo)


def test_no_target_is_not_checked_and_an_old_ledger_adopts_one(open_ledger: OpenLedger) -> None:
    open_ledger().close()  # a ledger without a stored target
    sent_one(open_ledger(target=STAGING))  # adopts it
    open_ledger().close()  # None: not checked
    with pytest.raises(LedgerTargetError):
        open_ledger(target=LedgerTarget("inst-prod"))


def test_another_input_is_not_the_input_changed(open_ledger: OpenLedger) -> None:
    """Daily files: another name and other content belong to another ledger, even with
    --force; the message says so and does not suggest --force."""
    open_ledger(input_name="data/callbacks.2026-06-01.csv", fingerprint="a" * 64).close()
    for force in (False, True):
        with pytest.raises(LedgerOtherInputError, match="belongs to another input") as info:
            open_ledger(
                input_name="data/callbacks.2026-06-02.csv", fingerprint="b" * 64, force=force
            )
        assert "callbacks.2026-06-01.csv" in str(info.value)
        assert "callbacks.2026-06-02.csv" in str(info.value)
        assert "--force" not in str(info.value)
    # The same file name in another folder, edited: the input changed.
    with pytest.raises(LedgerMismatchError, match="changed since") as changed:
        open_ledger(input_name="callbacks.2026-06-01.csv", fingerprint="c" * 64)
    assert not isinstance(changed.value, LedgerOtherInputError)
    assert "new ledger" in str(changed.value)  # ... as what not to do
    assert "do not start a new ledger" in str(changed.value)


def test_the_same_content_under_another_name_resumes(open_ledger: OpenLedger) -> None:
    open_ledger(input_name="a.csv", fingerprint="a" * 64).close()
    assert open_ledger(input_name="renamed.csv", fingerprint="a" * 64).fingerprint == "a" * 64


def test_the_run_options_build_the_target() -> None:
    from taskloader.run.options import ledger_target
    from taskloader.settings import load_settings

    by_arn = load_settings(flags={"instance_id": ARN, "endpoint_url": EP}, environ={})
    assert ledger_target(by_arn) == LedgerTarget(
        "inst-staging", region="eu-west-2", endpoint=EP, instance_arn=ARN
    )
    by_id = load_settings(flags={"instance_id": "inst-1"}, environ={})

    class Meta:  # what a botocore client says it resolved
        region_name = "us-east-1"
        endpoint_url = "https://connect.us-east-1.amazonaws.com"

    class Client:
        meta = Meta()

    assert ledger_target(by_id, Client()) == LedgerTarget("inst-1", region="us-east-1")
    Meta.endpoint_url = "http://127.0.0.1:4566"  # set outside the flags (the environment)
    assert ledger_target(by_id, Client()) == LedgerTarget(
        "inst-1", region="us-east-1", endpoint="http://127.0.0.1:4566"
    )
