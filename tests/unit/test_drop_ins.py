"""Drop-in times: examples and properties of `next_times` (weekly and one-off sessions,
local clock times across the clocks changing)."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bulkbuy.domain.drop_ins import DropInRule, next_times

PROPERTY = settings(max_examples=200, deadline=None)
LONDON = ZoneInfo("Europe/London")


def weekly(weekday, starts=time(18), ends=time(20), place="Oak House"):
    return DropInRule(place=place, starts=starts, ends=ends, weekday=weekday)


def once(on_date, starts=time(10), ends=time(12), place="Library"):
    return DropInRule(place=place, starts=starts, ends=ends, on_date=on_date)


def test_weekly_next_three_tuesdays():
    now = datetime(2027, 3, 3, 9, tzinfo=UTC)  # a Wednesday
    found = next_times([weekly(1)], "Europe/London", now)
    assert [t.starts_at.date() for t in found] == [
        date(2027, 3, 9), date(2027, 3, 16), date(2027, 3, 23)]
    assert all(t.starts_at.hour == 18 and t.ends_at.hour == 20 for t in found)


def test_weekly_six_pm_stays_six_pm_across_the_clocks_going_forward():
    # Clocks go forward on Sunday 28 March 2027.
    now = datetime(2027, 3, 20, tzinfo=UTC)
    found = next_times([weekly(1)], "Europe/London", now)
    local = [t.starts_at.astimezone(LONDON) for t in found]
    assert [(d.date(), d.hour) for d in local] == [
        (date(2027, 3, 23), 18), (date(2027, 3, 30), 18), (date(2027, 4, 6), 18)]
    # The instants are 7 days less an hour apart across the change.
    assert (found[1].starts_at.astimezone(UTC) - found[0].starts_at.astimezone(UTC)
            == timedelta(days=7, hours=-1))


def test_weekly_six_pm_stays_six_pm_when_the_clocks_go_back():
    now = datetime(2027, 10, 25, tzinfo=UTC)
    found = next_times([weekly(0)], "Europe/London", now, limit=2)
    assert [t.starts_at.astimezone(LONDON).hour for t in found] == [18, 18]
    assert (found[1].starts_at.astimezone(UTC) - found[0].starts_at.astimezone(UTC)
            == timedelta(days=7, hours=1))


def test_a_session_under_way_counts_until_it_ends():
    tuesday_7pm = datetime(2027, 3, 9, 19, tzinfo=UTC)
    found = next_times([weekly(1)], "Europe/London", tuesday_7pm, limit=1)
    assert found[0].starts_at.date() == date(2027, 3, 9)
    just_ended = datetime(2027, 3, 9, 20, tzinfo=UTC)
    found = next_times([weekly(1)], "Europe/London", just_ended, limit=1)
    assert found[0].starts_at.date() == date(2027, 3, 16)


def test_one_off_and_weekly_mixed_and_past_one_offs_left_out():
    now = datetime(2027, 3, 3, 9, tzinfo=UTC)
    rules = [weekly(1), once(date(2027, 3, 10)), once(date(2027, 3, 1))]
    found = next_times(rules, "Europe/London", now, limit=5)
    assert [(t.place, t.starts_at.date()) for t in found] == [
        ("Oak House", date(2027, 3, 9)),
        ("Library", date(2027, 3, 10)),
        ("Oak House", date(2027, 3, 16)),
        ("Oak House", date(2027, 3, 23)),
        ("Oak House", date(2027, 3, 30)),
    ]


def test_until_leaves_out_later_ones():
    now = datetime(2027, 3, 3, 9, tzinfo=UTC)
    until = datetime(2027, 3, 16, 12, tzinfo=UTC)
    found = next_times([weekly(1)], "Europe/London", now, until=until, limit=10)
    assert [t.starts_at.date() for t in found] == [date(2027, 3, 9)]
    assert next_times([weekly(1)], "Europe/London", now,
                      until=datetime(2027, 3, 4, tzinfo=UTC)) == []


def test_local_day_not_utc_day():
    # 8pm UTC on Monday is already 9am on Tuesday in Auckland.
    now = datetime(2027, 3, 1, 20, tzinfo=UTC)
    found = next_times([weekly(1, time(10), time(11))], "Pacific/Auckland", now, limit=1)
    assert found[0].starts_at.date() == date(2027, 3, 2)
    assert found[0].starts_at.utcoffset() == timedelta(hours=13)


def test_no_rules_no_limit_and_bad_input():
    now = datetime(2027, 3, 3, tzinfo=UTC)
    assert next_times([], "Europe/London", now) == []
    assert next_times([weekly(1)], "Europe/London", now, limit=0) == []
    with pytest.raises(ValueError):
        next_times([weekly(1)], "Europe/London", datetime(2027, 3, 3))  # noqa: DTZ001
    with pytest.raises(ValueError):
        weekly(7)
    with pytest.raises(ValueError):
        weekly(1, time(12), time(12))
    with pytest.raises(ValueError):
        DropInRule(place="x", starts=time(1), ends=time(2), weekday=1,
                   on_date=date(2027, 3, 3))


# --- properties -------------------------------------------------------------------------

ZONES = st.sampled_from(["Europe/London", "Europe/Warsaw", "America/New_York",
                         "Australia/Sydney", "UTC", "Asia/Karachi"])


@st.composite
def rules(draw):
    start_minute = draw(st.integers(0, 22 * 60))
    length = draw(st.integers(15, 24 * 60 - 1 - start_minute))
    starts = time(start_minute // 60, start_minute % 60)
    end_minute = start_minute + length
    ends = time(end_minute // 60, end_minute % 60)
    place = draw(st.sampled_from(["Oak House", "Library", "Church hall"]))
    if draw(st.booleans()):
        return DropInRule(place=place, starts=starts, ends=ends,
                          weekday=draw(st.integers(0, 6)))
    return DropInRule(place=place, starts=starts, ends=ends,
                      on_date=draw(st.dates(date(2026, 1, 1), date(2028, 12, 31))))


instants = st.datetimes(datetime(2026, 1, 1), datetime(2028, 12, 31),  # noqa: DTZ001
                        timezones=st.just(UTC))


@PROPERTY
@given(st.lists(rules(), max_size=5), ZONES, instants,
       st.one_of(st.none(), st.timedeltas(timedelta(0), timedelta(days=60))),
       st.integers(0, 8))
def test_properties(rule_list, zone, now, ahead, limit):
    until = None if ahead is None else now + ahead
    found = next_times(rule_list, zone, now, until=until, limit=limit)
    assert len(found) <= max(limit, 0)
    starts = [t.starts_at for t in found]
    assert starts == sorted(starts)
    assert all(t.ends_at > now for t in found)
    assert all(t.ends_at > t.starts_at for t in found)
    if until is not None:
        assert all(t.starts_at <= until for t in found)
    for rule in rule_list:
        mine = [t for t in found if t.place == rule.place and rule.weekday is not None
                and t.starts_at.astimezone(ZoneInfo(zone)).weekday() == rule.weekday]
        local = [t.starts_at.astimezone(ZoneInfo(zone)) for t in mine]
        dates = sorted({d.date() for d in local})
        # A weekly rule's times are whole weeks apart in local dates.
        assert all((b - a).days % 7 == 0 for a, b in zip(dates, dates[1:], strict=False))


@PROPERTY
@given(st.integers(0, 6), st.integers(0, 23), ZONES, instants, st.integers(1, 6))
def test_weekly_keeps_its_clock_time(weekday, hour, zone, now, limit):
    tz = ZoneInfo(zone)
    rule = DropInRule(place="Oak House", starts=time(hour), ends=time(hour, 30),
                      weekday=weekday)
    found = next_times([rule], zone, now, limit=limit)
    assert len(found) == limit
    local = [t.starts_at.astimezone(tz) for t in found]
    # Skip the rare hour the clocks skip (it is shown at the real instant it names).
    assume(all((d.hour, d.minute) == (hour, 0) for d in local))
    assert all(d.weekday() == weekday for d in local)
    assert all((b.date() - a.date()).days == 7 for a, b in zip(local, local[1:], strict=False))
    # Nothing missed: the first is the first one not yet ended.
    first_day = local[0].date() - timedelta(days=7)
    earlier = datetime.combine(first_day, time(hour, 30)).replace(tzinfo=tz)
    assert earlier <= now
