"""The streaming sketches behind git_data.stats, checked against exact computations."""

from __future__ import annotations

import random
import statistics
from collections import Counter

import pytest

from git_data.stats.sketches import (
    DistinctCounter,
    Moments,
    Reservoir,
    StreamHistogram,
    TopValues,
    nice_ceil,
    time_step,
)


def batches(values: list, size: int) -> list[list]:
    return [values[i:i + size] for i in range(0, len(values), size)]


def test_moments_match_statistics_across_batches() -> None:
    rng = random.Random(7)
    values = [rng.gauss(1e6, 3.5) for _ in range(50_000)]  # large offset, small spread
    moments = Moments()
    for batch in batches(values, 777):
        moments.add_batch(batch)
    assert moments.n == len(values)
    assert moments.mean == pytest.approx(statistics.fmean(values), rel=1e-12)
    assert moments.std == pytest.approx(statistics.stdev(values), rel=1e-9)
    assert (moments.min, moments.max) == (min(values), max(values))


def test_moments_of_ints_keep_exact_extremes() -> None:
    moments = Moments()
    big = [2**62 + i for i in range(10)]
    moments.add_batch(big[:4])
    moments.add_batch(big[4:])
    assert moments.min == 2**62 and moments.max == 2**62 + 9
    assert isinstance(moments.max, int)
    assert moments.std == pytest.approx(statistics.stdev(range(10)))


def test_single_value_has_zero_std_and_empty_has_none() -> None:
    one = Moments()
    one.add_batch([5.0])
    assert one.std == 0.0
    assert Moments().std is None


def test_reservoir_is_deterministic_and_uniform() -> None:
    def draw(seed: int) -> list[int]:
        reservoir = Reservoir(100, seed)
        for batch in batches(list(range(10_000)), 333):
            reservoir.add_batch(batch)
        return sorted(reservoir.items)

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)
    assert len(draw(3)) == 100 and len(set(draw(3))) == 100
    # over many seeds every tenth of the stream gets about a tenth of the picks
    hits = Counter(x // 1000 for seed in range(200) for x in draw(seed))
    for decile in range(10):
        assert 1700 < hits[decile] < 2300, hits


def test_reservoir_keeps_everything_below_capacity() -> None:
    reservoir = Reservoir(50, 0)
    reservoir.add_batch(list(range(30)))
    assert sorted(reservoir.items) == list(range(30))
    assert reservoir.quantiles([0.0, 0.5, 1.0]) == [0, 14.5, 29]


def test_reservoir_quantiles_are_close_on_large_streams() -> None:
    rng = random.Random(3)
    values = [rng.random() for _ in range(200_000)]
    reservoir = Reservoir(4096, 0)
    for batch in batches(values, 8192):
        reservoir.add_batch(batch)
    p5, p50, p95 = reservoir.quantiles([0.05, 0.5, 0.95])
    assert p5 == pytest.approx(0.05, abs=0.015)
    assert p50 == pytest.approx(0.5, abs=0.025)
    assert p95 == pytest.approx(0.95, abs=0.015)


def test_distinct_counter_is_exact_below_k_and_close_above() -> None:
    small = DistinctCounter(k=4096)
    small.add_batch([f"v{i % 1000}" for i in range(20_000)])
    assert small.exact and small.estimate() == 1000
    big = DistinctCounter(k=4096)
    for start in range(0, 300_000, 10_000):
        big.add_batch([f"user-{i}" for i in range(start, start + 10_000)] * 2)
    assert not big.exact
    assert big.estimate() == pytest.approx(300_000, rel=0.05)


def test_top_values_exact_when_few_and_keep_heavy_hitters_when_many() -> None:
    few = TopValues(k=16)
    few.add_batch(["a"] * 5 + ["b"] * 3 + ["c"])
    assert few.exact and few.most_common(2) == [["a", 5], ["b", 3]]
    many = TopValues(k=64)
    stream = ["hot"] * 30_000 + ["warm"] * 10_000 + [f"cold{i}" for i in range(60_000)]
    random.Random(5).shuffle(stream)
    for batch in batches(stream, 4096):
        many.add_batch(batch)
    top = many.most_common(2)
    assert not many.exact
    assert [value for value, _ in top] == ["hot", "warm"]
    # Misra-Gries undercounts by at most n / (k + 1)
    assert 30_000 - 100_000 / 65 <= top[0][1] <= 30_000


def test_histogram_counts_exactly_while_extending_its_range() -> None:
    rng = random.Random(11)
    first = [rng.uniform(0, 1) for _ in range(1000)]
    later = [rng.uniform(-50, 200) for _ in range(5000)]
    hist = StreamHistogram(bins=64)
    for batch in (first, later):
        hist.add_batch(batch, min(batch), max(batch), "float")
    result = hist.result(max_bins=32)
    assert result is not None
    assert sum(result.counts) == 6000
    assert len(result.counts) <= 32
    assert result.start <= min(later) and result.end > max(later)
    # the counts agree with a direct count over the same edges
    edges = result.edges()
    direct = [sum(1 for x in first + later if edges[i] <= x < edges[i + 1])
              for i in range(len(result.counts))]
    assert direct == result.counts


def test_histogram_bins_align_to_integers_and_days() -> None:
    ints = StreamHistogram()
    ints.add_batch(list(range(10)) * 3, 0, 9, "int")
    result = ints.result()
    assert result is not None
    assert result.width == 1 and result.counts == [3] * 10
    days = StreamHistogram()
    stamps = [86400.0 * d for d in range(18_000, 18_028)]
    days.add_batch(stamps, stamps[0], stamps[-1], "datetime")
    result = days.result()
    assert result is not None
    assert result.width == 86400 and result.start % 86400 == 0
    assert result.counts == [1] * 28


def test_round_steps() -> None:
    assert [nice_ceil(x) for x in (0.7, 1.0, 1.5, 3, 7, 0.013)] == [1, 1, 2, 5, 10, 0.02]
    assert time_step(50) == 60 and time_step(4000) == 7200 and time_step(86000) == 86400
    assert time_step(40 * 86400) == 50 * 86400


def test_moments_stay_accurate_when_the_first_value_is_an_outlier() -> None:
    rng = random.Random(2)
    values = [0.0] + [1e9 + rng.gauss(0, 1) for _ in range(20_000)]
    moments = Moments()
    for batch in batches(values, 1000):
        moments.add_batch(batch)
    assert moments.std == pytest.approx(statistics.stdev(values), rel=1e-6)
