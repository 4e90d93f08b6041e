import threading
import time

import pytest

from lvcd.prefetch import background


def test_items_in_order_exactly_once():
    assert list(background(range(1000), maxsize=3)) == list(range(1000))


def test_empty_producer():
    assert list(background(iter(()), maxsize=1)) == []


def test_producer_error_raised_in_consumer_after_earlier_items():
    def gen():
        yield 1
        yield 2
        raise KeyError("bad frame")

    got = []
    with pytest.raises(KeyError, match="bad frame"):
        for x in background(gen(), maxsize=4):
            got.append(x)
    assert got == [1, 2]


def test_holds_at_most_maxsize_items_ahead():
    produced = []

    def gen():
        for i in range(100):
            produced.append(i)
            yield i

    bg = background(gen(), maxsize=4)
    time.sleep(0.3)  # give the producer every chance to run ahead
    # maxsize items in the queue + one the producer holds while blocked on put
    assert len(produced) <= 4 + 1
    assert next(bg) == 0
    bg.close()


def test_close_stops_the_producer_and_runs_its_cleanup():
    cleaned = threading.Event()

    def gen():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            cleaned.set()

    with background(gen(), maxsize=2, name="t-close") as bg:
        assert [next(bg) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert cleaned.is_set()
    assert not any(t.name == "t-close" for t in threading.enumerate())
    with pytest.raises(StopIteration):
        next(bg)


def test_consumer_error_inside_with_stops_the_producer():
    def forever():
        while True:
            yield 0

    with pytest.raises(RuntimeError, match="writer failed"):
        with background(forever(), maxsize=2, name="t-err") as bg:
            next(bg)
            raise RuntimeError("writer failed")
    assert not any(t.name == "t-err" for t in threading.enumerate())


def test_overlaps_producer_and_consumer_work():
    # Each side sleeps (releasing the GIL, as waiting on a GPU or a pipe does): overlapped, the total is about
    # max(producer, consumer) rather than their sum. Asserted on counts of overlapping intervals, not on time.
    spans = {"p": [], "c": []}

    def gen():
        for i in range(6):
            t = time.perf_counter()
            time.sleep(0.05)
            spans["p"].append((t, time.perf_counter()))
            yield i

    for _ in background(gen(), maxsize=2):
        t = time.perf_counter()
        time.sleep(0.05)
        spans["c"].append((t, time.perf_counter()))
    overlapping = sum(1 for a in spans["c"] for b in spans["p"] if a[0] < b[1] and b[0] < a[1])
    assert overlapping >= 3


def test_rejects_empty_queue():
    with pytest.raises(ValueError, match="at least one"):
        background([1], maxsize=0)
