"""The campaign lifecycle: `draft -> scheduled -> sending -> completed`, or `cancelled`/`failed`."""

from __future__ import annotations

from enum import StrEnum


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


SENDABLE = frozenset({CampaignStatus.DRAFT, CampaignStatus.SCHEDULED})
CANCELLABLE = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.SENDING})
