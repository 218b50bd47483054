"""The message status machine: `queued -> sending -> sent -> delivered | undelivered | failed`,
plus `read` after delivery on WhatsApp, and `cancelled` for a queued campaign message whose
campaign was cancelled. A transition only ever moves forward."""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    READ = "read"
    CANCELLED = "cancelled"


RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.UNDELIVERED: 3,
    MessageStatus.FAILED: 3,
    MessageStatus.READ: 4,
    MessageStatus.CANCELLED: 3,
}
FINAL = frozenset(
    {MessageStatus.UNDELIVERED, MessageStatus.FAILED, MessageStatus.READ, MessageStatus.CANCELLED}
)
# `delivered` is final except on WhatsApp, where `read` may follow.
SETTLED = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.READ,
        MessageStatus.CANCELLED,
    }
)


def predecessors(target: MessageStatus) -> list[str]:
    """Every status from which `target` is a forward move."""
    if target is MessageStatus.READ:
        return [MessageStatus.SENT.value, MessageStatus.DELIVERED.value]
    if target is MessageStatus.CANCELLED:
        return [MessageStatus.QUEUED.value]
    return [status.value for status, rank in RANK.items() if rank < RANK[target]]


def is_final(status: str, channel: str) -> bool:
    if status == MessageStatus.DELIVERED:
        return channel != "whatsapp"
    return status in FINAL
