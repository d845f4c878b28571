"""A real SQS API on loopback, for tests and the bench: moto's server mode (`moto[server]`).

`ThreadedMotoServer` serves moto's SQS over HTTP in a thread of this process, so a worker in
another process reaches it as it would reach Amazon's: through boto3 and a queue URL (whose
host is the server). Messages, receipt handles and visibility timeouts behave as SQS's do;
moto is slow with deep queues, so figures taken through it are for correctness, not speed.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
_names = itertools.count(1)


class LocalSqs:
    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""
        self.client: Any = None

    def start(self) -> LocalSqs:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        self.client = boto3.client(
            "sqs", region_name=REGION, endpoint_url=self.endpoint_url,
            aws_access_key_id="moto", aws_secret_access_key="moto",  # nosec B106: moto's
        )
        return self

    def stop(self) -> None:
        self._server.stop()

    def create_queue(self, visibility_timeout: int = 2) -> str:
        """A new queue (a name of its own); its URL."""
        answer = self.client.create_queue(
            QueueName=f"yuebao-ses-events-{next(_names)}",
            Attributes={"VisibilityTimeout": str(visibility_timeout)},
        )
        url: str = answer["QueueUrl"]
        return url

    def send(self, url: str, bodies: Iterable[str]) -> int:
        """Put each body in the queue, as SNS does (10 a call); how many."""
        sent = 0
        batch: list[str] = []
        for body in [*bodies, None]:
            if body is not None:
                batch.append(body)
            if batch and (len(batch) == 10 or body is None):
                self.client.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(n), "MessageBody": b} for n, b in enumerate(batch)])
                sent += len(batch)
                batch = []
        return sent

    def feed(self, url: str, bodies: Sequence[str], depth: int) -> threading.Thread:
        """A thread that puts `bodies` in the queue, keeping at most about `depth` messages in
        it (visible and in flight): moto's receive and delete scan the whole queue, so a deep
        one measures moto, not its consumer."""

        def run() -> None:
            at = 0
            while at < len(bodies):
                room = depth - sum(self.depth(url))
                if room < 10:
                    time.sleep(0.05)
                    continue
                at += self.send(url, bodies[at:at + room])

        thread = threading.Thread(target=run, name="sqs-feed", daemon=True)
        thread.start()
        return thread

    def depth(self, url: str) -> tuple[int, int]:
        """(visible, in flight) messages."""
        attributes = self.client.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages",
                            "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (int(attributes["ApproximateNumberOfMessages"]),
                int(attributes["ApproximateNumberOfMessagesNotVisible"]))
