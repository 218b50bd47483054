"""What every resolver receives: the database, the settings and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.auth import Principal
from gateway.bus import EventBus
from gateway.db import Database
from gateway.queue import TaskQueue
from gateway.settings import Settings
from resolvers.errors import DomainError, Forbidden, Unauthenticated


@dataclass(slots=True)
class Context:
    db: Database
    settings: Settings
    queue: TaskQueue | None = None
    bus: EventBus | None = None
    principal: Principal | None = None
    # Set when credentials were presented but rejected; raised when a caller is required.
    auth_error: DomainError | None = None

    def require(self, scope: str) -> Principal:
        """The caller, who must hold `scope` (403 otherwise); 401 when nobody is authenticated."""
        if self.principal is None:
            raise self.auth_error or Unauthenticated(
                "authentication required: send X-API-Key, or Authorization: Bearer with X-Tenant-Id"
            )
        if not self.principal.allows(scope):
            raise Forbidden(f"this credential lacks the '{scope}' scope")
        return self.principal

    def task_queue(self) -> TaskQueue:
        if self.queue is None:
            raise RuntimeError("this context has no task queue")
        return self.queue
