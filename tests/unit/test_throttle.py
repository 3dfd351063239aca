"""services.payments.throttle.Throttle, the pacer of Stripe requests, with a fake clock
and a fake sleep.

The rules: at rate N there are never more than N calls in any one-second
window; a 429 halves the rate (never below one a second) and pauses at least
a second; successes bring the rate back toward the limit, never above it;
peak_per_second counts the most calls that started within one second.
"""

from __future__ import annotations

import pytest

from bulkbuy.services.payments.throttle import Throttle


class FakeClock:
    """time.monotonic and time.sleep: sleeping moves the clock on by exactly that much."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"asked to sleep {seconds}s"
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def throttle(rate: float, clock: FakeClock | None = None) -> tuple[Throttle, FakeClock]:
    clock = clock or FakeClock()
    return Throttle(rate, clock=clock, sleep=clock.sleep), clock


def most_in_one_second(times: list[float]) -> tuple[int, float]:
    """The most times within any half-open one-second window [t, t + 1), and the first
    such window's start (brute force: the busiest window starts at a call)."""
    best, at = 0, 0.0
    for start in times:
        inside = sum(1 for t in times if start <= t < start + 1.0)
        if inside > best:
            best, at = inside, start
    return best, at


# --- spacing ------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [1, 2, 4, 8])
def test_at_rate_n_no_one_second_window_holds_more_than_n_calls(rate):
    pacer, _clock = throttle(rate)
    for _ in range(6 * rate):
        pacer.wait()

    busiest, _ = most_in_one_second(pacer.calls)
    assert busiest == rate  # back to back, every window is exactly full
    assert pacer.peak_per_second() == rate
    assert pacer.calls[-1] - pacer.calls[0] == pytest.approx((6 * rate - 1) / rate)


def test_at_rates_whose_spacing_is_not_exact_in_binary_no_window_holds_more_than_n_calls():
    """Adding 1/rate up call after call could, by float rounding, put call N+1 a hair under
    one second after call 1 (at 10/s from t=0: 0.9999999999999999 s); the spacing is a
    hair over 1/rate so it never does."""
    too_many = []
    for start in (0.0, 1000.0, 86400.25):
        for rate in (3, 5, 7, 10, 20, 25):
            pacer, _clock = throttle(rate, FakeClock(start))
            for _ in range(6 * rate):
                pacer.wait()
            busiest, at = most_in_one_second(pacer.calls)
            if busiest > rate or pacer.peak_per_second() > rate:
                span = max(t for t in pacer.calls if at <= t < at + 1.0) - at
                too_many.append(f"rate {rate}/s from t={start}: {busiest} calls within "
                                f"{span!r}s (peak_per_second {pacer.peak_per_second()})")
    assert too_many == [], "more than N calls in one second at rate N:\n" + "\n".join(too_many)


def test_the_first_call_goes_at_once_and_calls_already_spaced_out_never_wait():
    pacer, clock = throttle(5)
    for _ in range(4):
        pacer.wait()
        clock.advance(0.5)  # the caller is slower than 5 a second

    assert clock.sleeps == []
    assert pacer.calls == [1000.0, 1000.5, 1001.0, 1001.5]


def test_back_to_back_calls_are_spaced_one_over_the_rate_apart():
    pacer, clock = throttle(4)
    for _ in range(5):
        pacer.wait()

    # A hair over 1/rate (1e-9 s) so float rounding never lets a 5th call into one second.
    assert clock.sleeps == pytest.approx([0.25] * 4, abs=1e-6)
    assert pacer.calls == pytest.approx([1000.0, 1000.25, 1000.5, 1000.75, 1001.0], abs=1e-6)


def test_a_rate_must_be_more_than_zero():
    for bad in (0, -1, -0.5):
        with pytest.raises(ValueError):
            Throttle(bad)


# --- after HTTP 429 -------------------------------------------------------------------------


def test_rate_limited_halves_the_rate_down_to_one_a_second():
    pacer, _clock = throttle(10)
    rates = []
    for _ in range(6):
        pacer.rate_limited()
        rates.append(pacer.rate)

    assert rates == [5.0, 2.5, 1.25, 1.0, 1.0, 1.0]
    assert pacer.limit == 10.0


def test_a_429_never_speeds_the_throttle_up():
    """The floor of one call a second after a 429 never raises a rate already below it."""
    pacer, _clock = throttle(0.5)
    pacer.rate_limited()
    assert pacer.rate <= 0.5, (
        f"a 429 moved the rate from 0.5/s up to {pacer.rate}/s: "
        "max(1.0, rate / 2) raises a rate configured below 1/s")


@pytest.mark.parametrize("rate", [1, 8, 100])
def test_after_a_429_the_next_call_waits_at_least_a_second(rate):
    pacer, clock = throttle(rate)
    pacer.wait()
    limited_at = clock()

    pacer.rate_limited()
    pacer.wait()

    assert pacer.calls[-1] - limited_at >= 1.0
    assert sum(clock.sleeps) >= 1.0


def test_after_a_429_calls_are_spaced_at_the_halved_rate():
    pacer, _clock = throttle(8)
    pacer.wait()
    pacer.rate_limited()
    for _ in range(5):
        pacer.wait()

    gaps = [b - a for a, b in zip(pacer.calls[1:], pacer.calls[2:], strict=False)]
    assert gaps == [pytest.approx(0.25)] * 4
    busiest, _ = most_in_one_second(pacer.calls[1:])
    assert busiest <= 4


def test_a_429_in_the_middle_of_a_pause_does_not_shorten_it():
    pacer, clock = throttle(1)
    pacer.wait()
    pacer.rate_limited()
    pacer.rate_limited()  # twice: still at least a second from the second one
    pacer.wait()

    assert pacer.calls[1] - pacer.calls[0] >= 1.0
    assert clock() >= 1001.0


# --- recovering ------------------------------------------------------------------------------


def test_succeeded_recovers_toward_the_limit_but_never_above_it():
    pacer, _clock = throttle(8)
    for _ in range(3):
        pacer.rate_limited()
    assert pacer.rate == 1.0

    rates = []
    for _ in range(20):
        pacer.succeeded()
        rates.append(pacer.rate)

    assert all(a < b for a, b in zip(rates, rates[1:], strict=False) if b < 8.0)
    assert rates[0] > 1.0
    assert max(rates) == 8.0 and rates[-1] == 8.0
    assert all(r <= 8.0 for r in rates)


def test_succeeded_at_the_limit_stays_at_the_limit():
    pacer, _clock = throttle(6)
    for _ in range(5):
        pacer.succeeded()
    assert pacer.rate == 6.0


# --- peak_per_second ---------------------------------------------------------------------


@pytest.mark.parametrize(("calls", "peak"), [
    ([], 0),
    ([5.0], 1),
    ([0.0, 1.0, 2.0, 3.0], 1),  # exactly a second apart: one a second
    ([0.0, 0.999, 1.998], 2),
    ([0.0, 0.5, 0.99, 1.0, 1.5, 1.6, 1.7], 5),  # 0.99 .. 1.7
    ([0.0, 0.1, 0.2, 5.0, 5.0, 5.0, 5.0], 4),  # a burst later on
])
def test_peak_per_second_counts_the_most_calls_started_within_one_second(calls, peak):
    pacer, _clock = throttle(1)
    pacer.calls = list(calls)
    assert pacer.peak_per_second() == peak
    assert most_in_one_second(calls)[0] == peak


def test_peak_per_second_after_real_waits_matches_the_rate():
    pacer, clock = throttle(4)
    for _ in range(8):
        pacer.wait()
    clock.advance(10)
    pacer.wait()
    assert pacer.peak_per_second() == 4
    assert len(pacer.calls) == 9
