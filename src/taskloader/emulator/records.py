"""What the emulator remembers: task templates (with snapshot versions) and contacts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class TemplateRecord:
    """A template and every version of it. ``versions[n - 1]`` is snapshot version ``n``."""

    instance_id: str
    id: str
    arn: str
    seq: int
    versions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def current(self) -> dict[str, Any]:
        return self.versions[-1]

    @property
    def version(self) -> int:
        return len(self.versions)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TemplateRecord:
        return cls(**data)


@dataclass(slots=True)
class ContactRecord:
    id: str
    arn: str
    instance_id: str
    name: str
    created: float
    description: str | None = None
    client_token: str | None = None
    #: Digest of the creating request's parameters (idempotency.request_digest).
    request_digest: str | None = None
    #: The first contact of a PreviousContactId chain (None: this contact itself).
    initial_contact_id: str | None = None
    contact_flow_id: str | None = None
    quick_connect_id: str | None = None
    task_template_id: str | None = None
    task_template_version: int | None = None
    task_template_arn: str | None = None
    task_template_name: str | None = None
    references: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: StartTaskContact Attachments as sent: {"FileName", "S3Url"}
    attachments: list[dict[str, str]] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    segment_attributes: dict[str, Any] = field(default_factory=dict)
    scheduled_time: float | None = None
    #: Emulated seconds this task lives (SegmentAttributes connect:ContactExpiry); None: the
    #: instance default (7 days).
    expiry_s: float | None = None
    previous_contact_id: str | None = None
    related_contact_id: str | None = None
    initiation_method: str = "API"
    queue_id: str | None = None
    #: When the task entered ``queue_id`` (a transfer to a queue).
    enqueued: float | None = None
    #: The user a transfer sent the task to; no agent has accepted it, so DescribeContact shows
    #: no AgentInfo (the emulator does not route tasks to agents).
    user_id: str | None = None
    #: Never set on tasks (UpdateContact refuses them); kept so older state files still load.
    customer_endpoint: dict[str, Any] | None = None
    system_endpoint: dict[str, Any] | None = None
    last_update: float | None = None
    disconnected: float | None = None
    transfers: int = 0
    #: ClientToken of each TransferContact call -> the digest of the parameters it came with.
    transfer_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.disconnected is None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContactRecord:
        return cls(**data)

    def inspect(self) -> dict[str, Any]:
        """The /_emulator/contacts view of this contact."""
        return {
            "ContactId": self.id,
            "ClientToken": self.client_token,
            "InstanceId": self.instance_id,
            "Name": self.name,
            "Description": self.description,
            "TaskTemplateId": self.task_template_id,
            "TaskTemplateSnapshotVersion": (
                str(self.task_template_version) if self.task_template_version else None
            ),
            "ContactFlowId": self.contact_flow_id,
            "QuickConnectId": self.quick_connect_id,
            "References": self.references,
            "Attachments": self.attachments,
            "Attributes": self.attributes,
            "SegmentAttributes": self.segment_attributes,
            "ScheduledTime": self.scheduled_time,
            "PreviousContactId": self.previous_contact_id,
            "RelatedContactId": self.related_contact_id,
            "Active": self.active,
            "Transfers": self.transfers,
            "QueueId": self.queue_id,
            "TransferredToUser": self.user_id,
            "InitialContactId": self.initial_contact_id or self.id,
            "DisconnectTime": self.disconnected,
            "CreatedTime": self.created,
        }
