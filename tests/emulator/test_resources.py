"""ListContactFlows and ListQuickConnects over HTTP: names from the world, paged as modelled.

(Their modelled errors are provoked with every other operation's in test_modelled_errors.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from taskloader.emulator.settings import load_settings
from taskloader.emulator.world import (
    DEFAULT_FLOW_NAMES,
    DEFAULT_FLOWS,
    SECOND_FLOWS,
    SECOND_INSTANCE_ID,
    SECOND_QUICK_CONNECTS,
)


def _all(connect_client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    pages = connect_client.get_paginator(operation).paginate(**kwargs)
    return [item for page in pages for item in page[key]]


def test_flows_share_names_across_instances_but_not_ids(connect_client: Any, emulator: Any) -> None:
    """Both default instances list the same flow names; each under its own ids; paged by one."""
    dev = _all(connect_client, "list_contact_flows", "ContactFlowSummaryList",
               InstanceId=emulator.instance_id, PaginationConfig={"PageSize": 1})  # fmt: skip
    prod = _all(connect_client, "list_contact_flows", "ContactFlowSummaryList",
                InstanceId=SECOND_INSTANCE_ID, PaginationConfig={"PageSize": 2})  # fmt: skip
    assert [f["Name"] for f in dev] == [f["Name"] for f in prod] == list(DEFAULT_FLOW_NAMES)
    assert {f["Id"] for f in dev} == DEFAULT_FLOWS
    assert {f["Id"] for f in prod} == SECOND_FLOWS
    assert prod[0]["Arn"].endswith(f"instance/{SECOND_INSTANCE_ID}/contact-flow/{prod[0]['Id']}")
    assert {(f["ContactFlowType"], f["ContactFlowState"]) for f in dev} == {
        ("CONTACT_FLOW", "ACTIVE")
    }
    assert emulator.stats()["requests"]["ListContactFlows"] == {"200": 5}


def test_quick_connects_and_type_filters(connect_client: Any, aws_cli: Any) -> None:
    """Quick connects list by name (boto3 and the AWS CLI); a type filter with no match is empty."""
    quick = _all(connect_client, "list_quick_connects", "QuickConnectSummaryList",
                 InstanceId=SECOND_INSTANCE_ID, PaginationConfig={"PageSize": 1})  # fmt: skip
    assert {q["Id"] for q in quick} == SECOND_QUICK_CONNECTS
    assert [q["Name"] for q in quick] == ["Billing queue", "Support queue"]
    cli = aws_cli("list-quick-connects", "--instance-id", SECOND_INSTANCE_ID)
    assert [q["Name"] for q in cli["QuickConnectSummaryList"]] == ["Billing queue", "Support queue"]
    none = connect_client.list_quick_connects(
        InstanceId=SECOND_INSTANCE_ID, QuickConnectTypes=["USER"]
    )
    assert none["QuickConnectSummaryList"] == []
    flows = connect_client.list_contact_flows(
        InstanceId=SECOND_INSTANCE_ID, ContactFlowTypes=["AGENT_HOLD"]
    )
    assert flows["ContactFlowSummaryList"] == []


def test_config_names_resources(tmp_path: Path) -> None:
    """A config world may name flows and quick connects ({id, name}) or list bare ids."""
    config = tmp_path / "world.toml"
    config.write_text(
        '[[world.instances]]\nid = "i-1"\n'
        'contact_flows = [{id = "f-1", name = "Main"}, "f-2"]\n'
        'quick_connects = [{id = "q-1", name = "Desk"}]\n',
        encoding="utf-8",
    )
    instance = load_settings(config).world.instances["i-1"]
    assert instance.contact_flows == {"f-1", "f-2"} and instance.quick_connects == {"q-1"}
    assert (instance.name_of("f-1"), instance.name_of("f-2"), instance.name_of("q-1")) == (
        "Main", "f-2", "Desk"
    )  # fmt: skip
