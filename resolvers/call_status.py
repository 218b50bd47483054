"""A call's statuses: `queued -> initiated -> ringing -> in-progress -> completed | busy |
no-answer | failed | canceled`, moving forward only; and the tenant webhook event of each."""

from __future__ import annotations

from enum import StrEnum


class CallStatus(StrEnum):
    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"


FINAL = frozenset({CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.NO_ANSWER, CallStatus.FAILED,
                   CallStatus.CANCELED})  # fmt: skip
_STEP = {CallStatus.QUEUED: 0, CallStatus.INITIATED: 1, CallStatus.RINGING: 2, CallStatus.IN_PROGRESS: 3}

# Tenant webhook events: the call was not answered (busy, no answer, refused, canceled) is
# `call.failed` with the status in its data; a call that was answered and ended is `call.completed`.
EVENTS = {
    CallStatus.INITIATED: "call.initiated",
    CallStatus.RINGING: "call.ringing",
    CallStatus.IN_PROGRESS: "call.answered",
    CallStatus.COMPLETED: "call.completed",
    CallStatus.BUSY: "call.failed",
    CallStatus.NO_ANSWER: "call.failed",
    CallStatus.FAILED: "call.failed",
    CallStatus.CANCELED: "call.failed",
}

# Twilio's CallStatus values (status callbacks and the Call resource) are ours, but for `queued`.
TWILIO_CALL_STATUSES = {status.value: status for status in CallStatus if status is not CallStatus.QUEUED}


def predecessors(target: CallStatus) -> list[str]:
    """The statuses a call may move to `target` from: any earlier step (a provider may skip some)."""
    if target in FINAL:
        return [status.value for status in _STEP]
    return [status.value for status, step in _STEP.items() if step < _STEP[target]]
