"""The relay's per-watcher buffer: filled by the consumer thread without ever waiting, read
by the watcher's coroutine; overflow is a mark, not a block."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kinestream.api.relay import Subscription, SubscriptionOverflowError
from kinestream.events import AnalysisEvent


def event(position: int) -> AnalysisEvent:
    return AnalysisEvent("metric_update", "s", position, 0.0, {}, position=position)


def test_events_offered_by_another_thread_wake_the_reader() -> None:
    async def scenario() -> list[int]:
        subscription = Subscription("s", asyncio.get_running_loop(), capacity=100)
        assert await subscription.next_batch(0.01) == []

        def feed() -> None:
            for position in range(50):
                subscription.offer(event(position))

        feeder = threading.Thread(target=feed)
        feeder.start()
        received: list[int] = []
        while len(received) < 50:
            received += [e.position or 0 for e in await subscription.next_batch(5.0)]
        feeder.join()
        return received

    assert asyncio.run(scenario()) == list(range(50))


def test_an_overflowing_subscription_is_marked_and_offering_never_waits() -> None:
    async def scenario() -> None:
        subscription = Subscription("s", asyncio.get_running_loop(), capacity=10)
        offered: list[int] = []

        def feed() -> None:
            for position in range(100_000):
                subscription.offer(event(position))
                offered.append(position)

        # Nobody reads, and the event loop is held up by this join: an offer that waited for
        # room or for the loop would never return (the join's limit is a hang guard).
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        feeder.join(timeout=120)
        assert not feeder.is_alive(), f"offering stalled after {len(offered)} events"
        assert len(offered) == 100_000
        await asyncio.wait_for(subscription.overflowed.wait(), 120)
        with pytest.raises(SubscriptionOverflowError, match="more than 10 events queued"):
            await subscription.next_batch(0.01)
        subscription.offer(event(100_000))  # dropped: nothing is buffered after the overflow
        with pytest.raises(SubscriptionOverflowError):
            await subscription.next_batch(0.01)

    asyncio.run(scenario())
