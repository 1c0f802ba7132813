"""The transfer queue's thread runner (transfer.run_parallel)."""

from __future__ import annotations

import threading
import time

import pytest

from git_data.transfer import Item, run_parallel


def items(count: int) -> list[Item]:
    return [Item(f"xxh128:{i:032x}", i, f"f{i}") for i in range(count)]


def test_every_item_once_on_several_threads() -> None:
    seen: list[int] = []
    threads: set[int] = set()
    lock = threading.Lock()

    def work(item: Item) -> None:
        time.sleep(0.002)  # long enough for the other threads to take their share
        with lock:
            seen.append(item.size)
            threads.add(threading.get_ident())

    run_parallel(work, items(200), 8)
    assert sorted(seen) == list(range(200))
    assert len(threads) > 1


def test_an_interrupt_starts_no_new_transfers_and_waits_for_those_under_way() -> None:
    started: list[int] = []
    finished: list[int] = []
    lock = threading.Lock()
    main = threading.get_ident()

    def work(item: Item) -> None:
        with lock:
            started.append(item.size)
        if threading.get_ident() == main and len(started) > 4:
            raise KeyboardInterrupt
        time.sleep(0.01)
        with lock:
            finished.append(item.size)

    with pytest.raises(KeyboardInterrupt):
        run_parallel(work, items(500), 4)
    assert len(started) < 500  # the rest were never handed out
    assert len(finished) == len(started) - 1  # every other one ran to its end
