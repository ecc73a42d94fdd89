"""Task lifetime: Connect ends a task 7 days after creation by default, or when its
``connect:ContactExpiry`` runs out (Administrator Guide, feature specifications: "default 7
days"; StartTaskContact's SegmentAttributes, ExpiryDuration in minutes up to 129,600 = 90 days).

The emulator's ``time_scale`` makes days pass in fractions of a second; the assertions read the
moments the emulator recorded, never the test's own clock.
"""

from __future__ import annotations

import time
from typing import Any

DAY = 86_400
#: 7 days pass in 0.05 s
SCALE = 7 * DAY / 0.05


def expiry(minutes: int) -> dict[str, Any]:
    return {"connect:ContactExpiry": {"ValueMap": {"ExpiryDuration": {"ValueInteger": minutes}}}}


def wait_until_ended(emulator: Any, count: int) -> list[dict[str, Any]]:
    """Poll /_emulator/contacts until ``count`` contacts have ended (bounded)."""
    for _ in range(500):
        contacts = emulator.contacts()
        if sum(not c["Active"] for c in contacts) >= count:
            return contacts  # type: ignore[no-any-return]
        time.sleep(0.02)
    raise AssertionError("tasks did not end")


def test_default_lifetime_is_seven_days(emulator: Any) -> None:
    assert emulator.configure()["task_lifetime_s"] == 7 * DAY
    assert emulator.configure()["time_scale"] == 1.0


def test_tasks_end_after_seven_days_or_their_own_expiry(connect_client: Any, emulator: Any) -> None:
    """Default lifetime, a 90-day and a 1-minute ContactExpiry, all on one scaled clock."""
    emulator.configure(time_scale=SCALE)
    start = connect_client.start_task_contact
    base = {"InstanceId": emulator.instance_id, "ContactFlowId": emulator.flow_id}
    ids = {
        "default": start(**base, Name="default")["ContactId"],
        "ninety_days": start(**base, Name="90d", SegmentAttributes=expiry(129_600))["ContactId"],
        "one_minute": start(**base, Name="1m", SegmentAttributes=expiry(1))["ContactId"],
    }
    contacts = {c["ContactId"]: c for c in wait_until_ended(emulator, 3)}
    lived = {
        name: contacts[cid]["DisconnectTime"] - contacts[cid]["CreatedTime"]
        for name, cid in ids.items()
    }
    assert abs(lived["default"] - 7 * DAY / SCALE) < 1e-6
    assert abs(lived["ninety_days"] - 90 * DAY / SCALE) < 1e-6
    assert abs(lived["one_minute"] - 60 / SCALE) < 1e-6
    described = connect_client.describe_contact(
        InstanceId=emulator.instance_id, ContactId=ids["default"]
    )["Contact"]
    assert "DisconnectTimestamp" in described
    assert emulator.stats()["active_tasks"] == 0


def test_update_contact_moves_the_expiry(connect_client: Any, emulator: Any) -> None:
    """UpdateContact's SegmentAttributes may carry connect:ContactExpiry (counted from creation)."""
    emulator.configure(time_scale=SCALE)
    base = {"InstanceId": emulator.instance_id, "ContactFlowId": emulator.flow_id, "Name": "t"}
    cid = connect_client.start_task_contact(**base, SegmentAttributes=expiry(129_600))["ContactId"]
    connect_client.update_contact(
        InstanceId=emulator.instance_id, ContactId=cid, SegmentAttributes=expiry(60)
    )
    (contact,) = wait_until_ended(emulator, 1)
    assert abs(contact["DisconnectTime"] - contact["CreatedTime"] - 3600 / SCALE) < 1e-6


def test_lifetime_off_keeps_tasks_until_completed(connect_client: Any, emulator: Any) -> None:
    emulator.configure(task_lifetime_s=None, time_scale=SCALE)
    connect_client.start_task_contact(
        InstanceId=emulator.instance_id, ContactFlowId=emulator.flow_id, Name="t"
    )
    assert emulator.stats()["active_tasks"] == 1
    assert emulator.complete_tasks() == 1
