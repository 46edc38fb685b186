"""Items of an iterator produced ahead by a background thread: the next batch is read
(decoded, fetched) while the current one is written."""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator


def ahead(items: Iterator, depth: int = 2) -> Iterator:
    """``items`` produced by a background thread up to ``depth`` ahead; its errors are
    raised here, in the consumer."""
    q: queue.Queue = queue.Queue(depth)
    stop, end = threading.Event(), object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        pass
                if stop.is_set():
                    return
            q.put((end, None))
        except BaseException as e:          # handed to the consumer
            q.put((end, e))

    threading.Thread(target=produce, daemon=True).start()
    try:
        while True:
            item, error = q.get()
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
