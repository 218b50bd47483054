"""The process-wide objects a request needs: settings, database, task queue, event bus."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.bus import EventBus
from gateway.db import Database
from gateway.queue import TaskQueue
from gateway.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: Database
    queue: TaskQueue
    bus: EventBus
