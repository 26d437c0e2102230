"""Per receiver, alerts grouped and paced before the webhook notifier delivers them.

Alerts for one receiver that arrive within its `group_wait` go out as one message listing each
(Slack's `text` one line per alert); messages leave at most `rate_limit` a second. Each
receiver has a worker thread and an unbounded queue, so every alert is delivered eventually and
in order; delivery itself (retries, redirects, 410, the bounded per-URL queues) stays with
monitor.webhooks. A receiver that neither groups nor paces (the `--webhook` shorthand) hands
each alert to the notifier at once, as before rules existed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from ingest.spreads.monitor.alert_rules import Receiver
from ingest.spreads.monitor.webhooks import WebhookNotifier

log = logging.getLogger(__name__)

# Alerts in one message at most: beyond that a message is hard to read and Slack truncates it.
MAX_GROUP = 50
_STOP = object()


def group_message(bodies: list[Mapping[str, object]]) -> Mapping[str, object]:
    """One alert's body as it is; several as one message: a `text` line per alert (its state,
    then its own text, which names the book and threshold) and the bodies under `alerts`."""
    if len(bodies) == 1:
        return bodies[0]
    lines = [f"• {body['state']}: {body['text']}" for body in bodies]
    return {"text": f"{len(bodies)} alerts\n" + "\n".join(lines), "alerts": list(bodies)}


class ReceiverGroups:
    def __init__(
        self,
        notifier: WebhookNotifier,
        receivers: Iterable[Receiver],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.clock = clock
        self.receivers = {receiver.name: receiver for receiver in receivers}
        # Told of an unexpected exception in a worker (the run's supervisor).
        self.on_failure: Callable[[str, BaseException], object] | None = None
        self._queues: dict[str, queue.Queue[object]] = {}
        self._threads: list[threading.Thread] = []
        for receiver in self.receivers.values():
            if receiver.group_wait_seconds == 0 and receiver.rate_limit is None:
                continue
            jobs: queue.Queue[object] = queue.Queue()
            thread = threading.Thread(
                target=self._work, args=(receiver, jobs), name=f"receiver {receiver.name}"
            )
            thread.daemon = True
            thread.start()
            self._queues[receiver.name] = jobs
            self._threads.append(thread)

    def send(self, receiver_name: str, body: Mapping[str, object]) -> None:
        receiver = self.receivers[receiver_name]
        jobs = self._queues.get(receiver_name)
        if jobs is None:
            self.notifier.notify(dict(body), receiver.urls)
        else:
            jobs.put(body)

    def queue_depth(self) -> int:
        return sum(jobs.qsize() for jobs in self._queues.values())

    def close(self, grace_seconds: float = 10.0) -> None:
        """Hand every queued alert to the notifier (within the grace period), then stop."""
        deadline = self.clock() + grace_seconds
        for jobs in self._queues.values():
            jobs.put(_STOP)
        for thread in self._threads:
            thread.join(max(0.0, deadline - self.clock()))
        left = self.queue_depth()
        if left:
            log.error("%d alerts not handed to the webhooks within %s s", left, grace_seconds)

    def _work(self, receiver: Receiver, jobs: queue.Queue[object]) -> None:
        interval = 0.0 if receiver.rate_limit is None else 1.0 / receiver.rate_limit
        last_sent: float | None = None
        stopping = False
        while not stopping:
            first = jobs.get()
            if first is _STOP:
                return
            group = [first]
            closes_at = self.clock() + receiver.group_wait_seconds
            while len(group) < MAX_GROUP:
                wait = closes_at - self.clock()
                try:
                    item = jobs.get(timeout=wait) if wait > 0 else jobs.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                group.append(item)
            if last_sent is not None and (pause := last_sent + interval - self.clock()) > 0:
                time.sleep(pause)
            try:
                self.notifier.notify(dict(group_message(group)), receiver.urls)
            except Exception as error:
                # The worker's boundary: this message is lost, the next one goes as usual.
                if self.on_failure is None:
                    log.exception("receiver %s: message not handed over", receiver.name)
                else:
                    self.on_failure(f"receiver {receiver.name}", error)
            last_sent = self.clock()
