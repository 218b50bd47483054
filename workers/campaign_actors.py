"""The campaign fan-out actor: the audience of a sending campaign becomes queued messages."""

from __future__ import annotations

import logging

from gateway.queue import queue_of
from resolvers.campaign_fanout import FanOut
from resolvers.campaigns import FAN_OUT_ACTOR
from workers.runtime import RuntimeFactory

logger = logging.getLogger("weconn.campaigns")
FAN_OUT_TIME_LIMIT_MS = 6 * 3600 * 1000  # a million contacts take minutes; never cut one short


def register_campaign_actors(runtimes: RuntimeFactory) -> None:
    async def fan_out_campaign(campaign_id: int) -> None:
        runtime = runtimes.current()
        fan_out = FanOut(
            runtime.db,
            runtime.settings,
            runtime.queue,
            runtime.bus,
            campaign_id,
            chunk_size=runtime.settings.campaign_chunk_size,
        )
        step = await fan_out.run()
        logger.info("campaign %d fan-out: %s after %d chunks", campaign_id, step.value, fan_out.chunks)

    runtimes.actor(
        fan_out_campaign,
        actor_name=FAN_OUT_ACTOR,
        queue_name=queue_of(FAN_OUT_ACTOR),
        max_retries=20,
        time_limit=FAN_OUT_TIME_LIMIT_MS,
    )
