"""Keyed pseudo-random draws and invertible number maps.

Every fact of the world is drawn from a generator keyed by (seed, what, which), so a
record is computed from its index alone, in any order, on any machine.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
import struct
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

_EIGHT_WORDS = struct.Struct(">8I")
_SCALE = 1 / 2**32


def _digest(seed: int, key: tuple[object, ...], size: int) -> bytes:
    return hashlib.blake2b(repr((seed, key)).encode(), digest_size=size).digest()


def stream(seed: int, *key: object) -> random.Random:
    """A generator for one record: the same seed and key always give the same draws."""
    return random.Random(int.from_bytes(_digest(seed, key, 16), "big"))


def uniforms(seed: int, *key: object) -> tuple[float, ...]:
    """Eight independent uniform numbers in [0, 1), cheaper than a `stream`.

    Used where many candidates are tried and most rejected (finding parents).
    """
    return tuple(n * _SCALE for n in _EIGHT_WORDS.unpack(_digest(seed, key, 32)))


class Weighted(Generic[T]):
    """Draws from a fixed list of choices with relative weights."""

    def __init__(self, choices: Sequence[tuple[T, float]]) -> None:
        self._values = [value for value, _ in choices]
        self._cumulative = list(itertools.accumulate(weight for _, weight in choices))

    def at(self, u: float) -> T:
        """The choice at quantile ``u`` in [0, 1)."""
        return self._values[bisect.bisect_right(self._cumulative, u * self._cumulative[-1])]

    def draw(self, rng: random.Random) -> T:
        """One weighted choice from ``rng``."""
        return self.at(rng.random())


class Permutation:
    """A seeded bijection of [0, size), and its inverse.

    A four-round Feistel network on the two base-``h`` digits of a number (``h * h``
    covers the range), with cycle-walking for the part of ``[0, h * h)`` beyond
    ``size``. It turns a record index into a serial number that looks arbitrary, and
    back, with four small tables and no list of records.

    Args:
        size: The size of the range; serial numbers are ``0 <= n < size``.
        seed: The world seed.
        name: What the numbers are for, so each kind of number gets its own map.
    """

    def __init__(self, size: int, seed: int, name: str) -> None:
        if size < 1:
            raise ValueError("a permutation needs a non-empty range")
        rng = stream(seed, "permutation", name, size)
        half = math.isqrt(size - 1) + 1
        self.size = size
        self._half = half
        self._rounds = [[rng.randrange(half) for _ in range(half)] for _ in range(4)]

    def _forward(self, x: int) -> int:
        left, right = divmod(x, self._half)
        for table in self._rounds:
            left, right = right, (left + table[right]) % self._half
        return left * self._half + right

    def _backward(self, y: int) -> int:
        left, right = divmod(y, self._half)
        for table in reversed(self._rounds):
            left, right = (right - table[left]) % self._half, left
        return left * self._half + right

    def __call__(self, index: int) -> int:
        number = self._forward(index)
        while number >= self.size:
            number = self._forward(number)
        return number

    def invert(self, number: int) -> int:
        """The index whose image is ``number``."""
        index = self._backward(number)
        while index >= self.size:
            index = self._backward(index)
        return index
