"""Bounded-memory streaming sketches, each fed one batch of values at a time.

- :class:`Moments`: count, min, max, mean and variance (Welford's update, merged batch by
  batch in Chan's pairwise form, so it stays numerically stable).
- :class:`Reservoir`: a uniform sample of fixed size (Vitter/Li "Algorithm L": it draws
  how many items to skip, so a batch costs O(replacements), not O(items)). Seeded and using
  only ``random.random()``, so the same input gives the same sample on every machine.
- :class:`DistinctCounter`: K minimum values of a 64-bit hash; exact below K distinct
  values, then an estimate with about ``1/sqrt(K)`` relative error.
- :class:`TopValues`: exact counts up to a bound on distinct values, then Misra-Gries.
- :class:`StreamHistogram`: fixed number of equal-width bins, placed from the first batch
  and doubled in width (merging neighbours) whenever a value falls outside: exact counts,
  one pass, constant memory.
"""

from __future__ import annotations

import heapq
import itertools
import math
import operator
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import xxhash

from git_data.stats.model import Histogram


class Moments:
    """Running count / min / max / mean / variance over numbers (ints stay exact for min/max).

    Values are shifted by the first one seen (exactly, for ints), so large offsets
    (timestamps, ids) lose no precision; each batch's mean and squared deviations from it
    are merged with Welford's update in Chan's pairwise form. No per-value Python loop."""

    __slots__ = ("n", "_mean", "m2", "min", "max", "shift")

    def __init__(self) -> None:
        self.n = 0
        self._mean = 0.0  # mean of the shifted values
        self.m2 = 0.0
        self.min: Any = None
        self.max: Any = None
        self.shift: Any = None

    def add_batch(self, xs: Sequence[float], lo: Any = None, hi: Any = None) -> None:
        n = len(xs)
        if not n:
            return
        if self.shift is None:
            self.shift = xs[0]
        shifted = list(map(operator.sub, xs, itertools.repeat(self.shift, n)))
        total = sum(shifted)
        if type(total) is float:  # fsum: exactly rounded, the same on every Python version
            total = math.fsum(shifted)
        mean = total / n
        d = list(map(operator.sub, shifted, itertools.repeat(mean, n)))
        self._merge(n, mean, math.fsum(map(operator.mul, d, d)))
        lo = min(xs) if lo is None else lo
        hi = max(xs) if hi is None else hi
        if self.min is None or lo < self.min:
            self.min = lo
        if self.max is None or hi > self.max:
            self.max = hi

    def _merge(self, n: int, mean: float, m2: float) -> None:
        total = self.n + n
        delta = mean - self._mean
        self._mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total

    @property
    def mean(self) -> float | None:
        return None if self.shift is None else self.shift + self._mean

    @property
    def std(self) -> float | None:
        """Sample standard deviation (n - 1 in the denominator, as pandas reports it)."""
        if self.n < 2:
            return 0.0 if self.n == 1 else None
        return math.sqrt(max(self.m2, 0.0) / (self.n - 1))


class Reservoir:
    """A uniform random sample of at most ``k`` items from a stream (Algorithm L)."""

    def __init__(self, k: int, seed: int = 0) -> None:
        self.k = k
        self.items: list[Any] = []
        self.seen = 0
        self._rng = random.Random(seed)
        self._w = 1.0
        self._next = 0  # stream index of the next item to take once the reservoir is full

    def _uniform(self) -> float:
        u = self._rng.random()
        while u == 0.0:
            u = self._rng.random()
        return u

    def _advance(self) -> None:
        self._w *= math.exp(math.log(self._uniform()) / self.k)
        skip = 0 if self._w >= 1.0 else math.floor(math.log(self._uniform()) / math.log1p(-self._w))
        self._next += skip + 1

    def add_batch(self, xs: Sequence[Any]) -> None:
        start, n = self.seen, len(xs)
        self.seen += n
        i = 0
        if len(self.items) < self.k:
            i = min(self.k - len(self.items), n)
            self.items.extend(xs[j] for j in range(i))
            if len(self.items) < self.k:
                return
            self._next = start + i - 1
            self._advance()
        k, items, rng = self.k, self.items, self._rng
        while self._next < start + n:
            items[int(rng.random() * k)] = xs[self._next - start]
            self._advance()

    def quantiles(self, probs: Iterable[float]) -> list[float]:
        """Linear-interpolated quantiles of the sample (exact while ``seen <= k``)."""
        data = sorted(self.items)
        if not data:
            return []
        out = []
        for p in probs:
            pos = p * (len(data) - 1)
            lo = math.floor(pos)
            hi = min(lo + 1, len(data) - 1)
            out.append(data[lo] + (data[hi] - data[lo]) * (pos - lo))
        return out


def _encode(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def stable_hash(key: str) -> int:
    """64-bit hash, identical on every machine and Python run (unlike ``hash()``)."""
    return xxhash.xxh64_intdigest(_encode(key))


class DistinctCounter:
    """K-minimum-values distinct count: keeps the K smallest hashes seen."""

    def __init__(self, k: int = 4096) -> None:
        self.k = k
        self._heap: list[int] = []  # negated hashes: -heap[0] is the largest kept
        self._kept: set[int] = set()

    def add_batch(self, keys: Iterable[str]) -> None:
        heap, kept, k = self._heap, self._kept, self.k
        unique = set(keys)
        try:
            encoded = list(map(str.encode, unique))
        except UnicodeEncodeError:  # lone surrogates from JSON text
            encoded = list(map(_encode, unique))
        hashes = map(xxhash.xxh64_intdigest, encoded)
        if len(heap) >= k:  # cheap pre-filter against the current K-th smallest hash
            limit = -heap[0]
            hashes = [h for h in hashes if h < limit]  # type: ignore[assignment]
        for h in hashes:
            if h in kept:
                continue
            if len(heap) < k:
                heapq.heappush(heap, -h)
                kept.add(h)
            elif h < -heap[0]:
                kept.discard(-heapq.heappushpop(heap, -h))
                kept.add(h)

    @property
    def exact(self) -> bool:
        return len(self._heap) < self.k

    def estimate(self) -> int:
        if self.exact:
            return len(self._heap)
        kth = -self._heap[0]
        return round((self.k - 1) * 2.0**64 / (kth + 1))


class TopValues:
    """Exact value counts while at most ``exact_limit`` distinct values have been seen, then
    a Misra-Gries summary of capacity ``k``: any value more frequent than n/(k+1) is kept
    and its count becomes a lower bound (``exact`` turns false).

    The exact phase matters: a Misra-Gries summary undercounts every kept value by the
    decrements it has applied, so a small file with a few thousand distinct names would
    show each top count one too low."""

    def __init__(self, k: int = 1024, exact_limit: int = 16_384) -> None:
        self.k = k
        self.exact_limit = max(k, exact_limit)
        self.counts: Counter[str] = Counter()
        self.exact = True

    def add_batch(self, keys: Iterable[str]) -> None:
        self.counts.update(keys)
        if len(self.counts) > (self.exact_limit if self.exact else 4 * self.k):
            self._shrink()

    def _shrink(self) -> None:
        cut = heapq.nlargest(self.k + 1, self.counts.values())[-1]
        self.counts = Counter({key: n - cut for key, n in self.counts.items() if n > cut})
        self.exact = False

    def most_common(self, n: int) -> list[list[Any]]:
        if not self.exact and len(self.counts) > self.k:
            self._shrink()
        ranked = heapq.nsmallest(n, self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [[key, count] for key, count in ranked]


def nice_ceil(x: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is >= x."""
    if x <= 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(x))
    for step in (1, 2, 5, 10):
        if step * base >= x * (1 - 1e-12):
            return step * base
    return 10 * base


TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
              43200, 86400, 172800, 604800, 1209600, 2419200)


def time_step(seconds: float) -> float:
    """A round bin width in seconds (a minute, an hour, a day...) that is >= ``seconds``."""
    for step in TIME_STEPS:
        if step >= seconds:
            return float(step)
    return nice_ceil(seconds / 86400) * 86400


class StreamHistogram:
    """Exact-count histogram over a range that doubles (merging bin pairs) as needed."""

    def __init__(self, bins: int = 128) -> None:
        self.nb = bins
        self.lo: float | None = None
        self.width = 1.0
        self.counts = [0] * bins

    def _init(self, lo: float, hi: float, kind: str) -> None:
        target = (hi - lo) / (self.nb - 1)
        if kind == "datetime":
            width = time_step(target)
        elif target > 0:
            width = nice_ceil(target)
        else:
            width = nice_ceil(abs(lo) * 1e-3 or 1e-3)
        if kind in ("int", "datetime"):
            width = max(1.0, float(round(width)))
        self.width = width
        self.lo = math.floor(lo / width) * width

    def _double(self, left: bool) -> None:
        half, c = self.nb // 2, self.counts
        merged = [c[2 * i] + c[2 * i + 1] for i in range(half)]
        if left:
            self.lo -= self.nb * self.width
            self.counts = [0] * half + merged
        else:
            self.counts = merged + [0] * half
        self.width *= 2

    def add_batch(self, xs: Sequence[float], lo: float, hi: float, kind: str) -> None:
        """Count ``xs`` (whose min and max are ``lo`` and ``hi``); ``kind`` (int, float or
        datetime) picks round bin widths for the first batch: whole numbers for ints,
        seconds, minutes, hours or days for datetimes."""
        if self.lo is None:
            self._init(lo, hi, kind)
        for _ in range(4096):
            if lo < self.lo:
                self._double(left=True)
            elif hi >= self.lo + self.nb * self.width:
                self._double(left=False)
            else:
                break
        base, inv, last, counts = self.lo, 1.0 / self.width, self.nb - 1, self.counts
        n = len(xs)
        offsets = map(operator.sub, xs, itertools.repeat(base, n))
        try:
            binned = Counter(map(int, map(operator.mul, offsets, itertools.repeat(inv, n))))
        except OverflowError:
            return
        for idx, n in binned.items():
            counts[min(max(idx, 0), last)] += n

    def result(self, max_bins: int = 32) -> Histogram | None:
        """The occupied range, regrouped to at most ``max_bins`` bins."""
        used = [i for i, n in enumerate(self.counts) if n]
        if self.lo is None or not used:
            return None
        first, last = used[0], used[-1]
        group = math.ceil((last - first + 1) / max_bins)
        counts = self.counts[first:last + 1]
        grouped = [sum(counts[i:i + group]) for i in range(0, len(counts), group)]
        return Histogram(self.lo + first * self.width, self.width * group, grouped)
