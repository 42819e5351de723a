"""The steps of the checkpoints a saver saved or read, by thread: the step a write belongs to."""

from __future__ import annotations

import threading
from collections import OrderedDict

#: Checkpoint steps remembered at most (least recent threads first forgotten; a forgotten
#: step is read back from the store).
STEPS_MAX = 10_000


class CheckpointSteps:
    """thread -> (ns, checkpoint id) -> step, of the checkpoints this process saved, or read
    for a run in progress: the step a write to one of them belongs to. A thread's go when
    its last run here ends (``forget_thread``); at most ``STEPS_MAX`` in all, least recent
    threads forgotten first (a checkpointer used on its own is never told a run ended).
    Shared by the copies of a saver (``with_allowlist``)."""

    def __init__(self) -> None:
        self.threads: OrderedDict[str, dict[tuple[str, str], int]] = OrderedDict()
        self.count = 0
        self._lock = threading.Lock()

    def get(self, thread_id: str, ns: str, checkpoint_id: str) -> int | None:
        steps = self.threads.get(thread_id)
        return steps.get((ns, checkpoint_id)) if steps is not None else None

    def remember(self, thread_id: str, ns: str, checkpoint_id: str, step: int) -> None:
        with self._lock:
            threads = self.threads
            steps = threads.get(thread_id)
            if steps is None:
                steps = threads[thread_id] = {}
            else:
                threads.move_to_end(thread_id)
            if (ns, checkpoint_id) not in steps:
                self.count += 1
            steps[(ns, checkpoint_id)] = step
            while self.count > STEPS_MAX:
                oldest = next(iter(threads.values()))
                if oldest is steps:  # one thread holds them all: its oldest checkpoint goes
                    del steps[next(iter(steps))]
                    self.count -= 1
                else:
                    self.count -= len(threads.popitem(last=False)[1])

    def forget_thread(self, thread_id: str) -> None:
        with self._lock:
            self.count -= len(self.threads.pop(thread_id, {}))
