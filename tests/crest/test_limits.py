"""crest.limits: the leaky bucket's arithmetic (injected clock) and pacing against a real portal."""

from __future__ import annotations

import threading

import pytest

from crest.client import Client, RetryPolicy
from crest.errors import OperationTimeLimitError, QueryLimitExceededError
from crest.limits import Limiter
from portal.config import PortalConfig
from portal.testing import running_portal


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(clock: FakeClock, **kwargs: object) -> Limiter:
    return Limiter.for_plan(monotonic=clock, wall=clock, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


def test_burst_then_drain_rate() -> None:
    clock = FakeClock()
    lim = limiter(clock, margin=0.0, rate_margin=0.0)
    assert lim.capacity == 49  # a 50 bucket refuses the request that would make it 51: 50 - 1 slot margin
    waits = [lim.reserve() for _ in range(49)]
    assert waits == [0.0] * 49
    # Each request past the burst waits one more drain interval (2/s): reservations queue.
    assert [lim.reserve() for _ in range(3)] == pytest.approx([0.5, 1.0, 1.5])
    clock.now += 10  # 20 requests drained
    assert lim.level() == pytest.approx(52 - 20)
    assert lim.floor(249) == pytest.approx(100.0)


def test_margin_speed_and_share() -> None:
    clock = FakeClock()
    standard = limiter(clock)  # 10 % of the burst, 1 % of the rate kept in reserve
    assert standard.capacity == pytest.approx(45)
    assert standard.rate == pytest.approx(1.98)
    fast = limiter(clock, plan="enterprise", speed=10, share=0.5)
    assert fast.capacity == pytest.approx(125 - 12.5)
    assert fast.rate == pytest.approx(5 * 10 * 0.5 * 0.99)
    assert fast.window == pytest.approx(60)
    assert fast.operating_limit == pytest.approx(24)
    with pytest.raises(ValueError, match="share"):
        Limiter.for_plan(share=0)


def test_acquire_sleeps_for_its_slot() -> None:
    clock = FakeClock()
    lim = limiter(clock, margin=0.0, rate_margin=0.0)
    for _ in range(50):
        lim.acquire("crm.contact.add")
    assert clock.slept == [pytest.approx(0.5)]


def test_shared_registry_is_per_portal() -> None:
    a = Limiter.shared("https://a.example/rest/1/x/", speed=123)
    assert a is Limiter.shared("https://a.example/rest/1/other/", speed=123)
    assert a is not Limiter.shared("https://b.example/rest/1/x/", speed=123)


def test_reservations_are_thread_safe() -> None:
    clock = FakeClock()
    lim = limiter(clock, margin=0.0, rate_margin=0.0)
    lock = threading.Lock()
    waits: list[float] = []

    def worker() -> None:
        for _ in range(25):
            w = lim.reserve()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 200 reservations at one instant: every slot time is distinct, 0.5 s apart past the burst.
    assert sorted(waits) == pytest.approx([0.0] * 49 + [0.5 * k for k in range(1, 152)])


def test_operating_budget_slows_only_that_method() -> None:
    clock = FakeClock()
    lim = limiter(clock)  # 480 s in 600 s; slows down past 432 s
    for _ in range(9):
        lim.observe_batch({"a": "crm.contact.list"}, {"a": {"processing": 50.0}})
        clock.now += 1
    lim.observe_batch(
        {"a": "crm.contact.list", "b": "crm.deal.list"},
        {"a": {"processing": 0.05}, "b": {"processing": 0.09}},
    )
    assert lim.operating_used("crm.contact.list") == pytest.approx(450)  # 0.05 s calls are not recorded
    assert lim.operating_used("crm.deal.list") == 0
    wait = lim.operating_wait("crm.contact.list")
    assert wait == pytest.approx(600 - 9)  # until the first record leaves the window
    assert lim.operating_wait("crm.deal.list") == 0
    clock.now += wait
    assert lim.operating_wait("crm.contact.list") == 0


def test_server_report_of_operating_time() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    lim.observe(
        "crm.deal.list", {"processing": 0.01, "operating": 470.0, "operating_reset_at": clock.now + 30}
    )
    assert lim.operating_wait("crm.deal.list") == pytest.approx(30)
    waited = lim.hold("crm.deal.list")
    assert waited >= 30
    assert lim.operating_wait("crm.deal.list") == 0


def test_backoff_on_429_pauses_one_method_until_reset() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    err = OperationTimeLimitError("blocked", extra={"operating_reset_at": clock.now + 42})
    assert lim.backoff("crm.contact.list", err) == pytest.approx(42.01)
    assert lim.operating_wait("crm.contact.list") == pytest.approx(42)
    assert lim.operating_wait("crm.contact.add") == 0
    # Without operating_reset_at: our own estimate (a tenth of the window when we know nothing).
    assert lim.backoff("tasks.task.list", OperationTimeLimitError("blocked")) == pytest.approx(60.01)


def test_backoff_on_503_models_a_full_bucket() -> None:
    clock = FakeClock()
    lim = limiter(clock, margin=0.0, rate_margin=0.0)
    assert lim.reserve() == 0.0
    wait = lim.backoff("batch", QueryLimitExceededError("full"))
    assert wait is not None and 0 <= wait <= 0.5
    assert lim.reserve() == pytest.approx(0.5)
    assert lim.backoff("x", OperationTimeLimitError.__mro__[1]("other")) is None  # type: ignore[arg-type]


def test_no_503_when_200_calls_are_paced_through_a_limited_portal() -> None:
    speed = 40.0  # 80 requests a second after a burst of 50
    with running_portal(PortalConfig(speed=speed, limits=True, cost=None)) as p:
        lim = Limiter.for_plan("standard", speed=speed)
        client = Client.from_webhook(p.webhook_url, limiter=lim)
        p.clear_requests()
        threads = [
            threading.Thread(target=lambda: [client.call("user.current") for _ in range(25)])
            for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        records = [r for r in p.requests() if r["method"] == "user.current"]
        assert len(records) == 200
        assert [r for r in records if r["status"] == 503] == []


def test_without_a_limiter_the_same_load_is_refused() -> None:
    """The control for the test above: the portal does refuse an unpaced burst."""
    with running_portal(PortalConfig(speed=1.0, limits=True, cost=None)) as p:
        client = Client.from_webhook(p.webhook_url, retry=RetryPolicy(rate_limited=0))
        p.clear_requests()
        with pytest.raises(QueryLimitExceededError):
            for _ in range(60):
                client.call("user.current")
        assert p.count("user.current", status=503) == 1


def test_429_pauses_only_that_method_against_the_portal() -> None:
    clock_sleeps: list[tuple[str, float]] = []
    speed = 100.0
    with running_portal(PortalConfig(speed=speed, limits=True, cost=None)) as p:
        lim = Limiter.for_plan("standard", speed=speed)
        client = Client.from_webhook(
            p.webhook_url, limiter=lim, sleep=lambda s: clock_sleeps.append(("client", s))
        )
        p.fault("crm.contact.list", error="OPERATION_TIME_LIMIT", status=429, description="blocked")
        rows = client.call("crm.contact.list", {"start": -1})
        assert rows == []
        assert len(clock_sleeps) == 1 and clock_sleeps[0][1] > 0  # waited once, then it worked
        assert lim.operating_wait("crm.contact.list") > 0 or clock_sleeps[0][1] <= 600 / speed / 10 + 0.1
        # Another method is not held up meanwhile.
        p.fault("crm.contact.list", error="OPERATION_TIME_LIMIT", status=429, description="blocked")
        lim.backoff("crm.contact.list", OperationTimeLimitError("blocked", extra={"operating_reset_at": 2e9}))
        assert lim.operating_wait("crm.contact.list") > 1000
        assert client.call("crm.deal.list", {"start": -1}) == []
        assert lim.operating_wait("crm.deal.list") == 0
