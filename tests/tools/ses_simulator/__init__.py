"""A local Amazon SES v2 simulator: the real API shape, quotas, faults and SNS events, on loopback.

Start it on its own::

    python -m tests.tools.ses_simulator --port 8025 --max-send-rate 14 --max-24-hour-send 50000 \
        --latency-ms 30 [--events-url http://127.0.0.1:5000/hooks/ses --cert-file var/sns-test.pem]

and point the app at it::

    MAIL_TRANSPORT=ses SES_ENDPOINT_URL=http://127.0.0.1:8025 SES_REGION=us-east-1 \
        AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x

adding, when the simulator posts events to the app (`--events-url`), the certificate it signs
with and its topic::

    SNS_TEST_CERT=var/sns-test.pem \
        SNS_TOPIC_ARNS=arn:aws:sns:us-east-1:123456789012:yuebao-ses-events

or use it in-process from a test::

    with SesSimulator(max_send_rate=100, max_24_hour_send=10_000, latency=0.03) as sim:
        ses = boto3.client("sesv2", endpoint_url=sim.endpoint_url, region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x")
        ...
        sim.messages          # one SentMessage per recipient
        sim.faults.fail_next(2, status=503)
        sim.faults.force_bulk_status(["a@example.com"], "TRANSIENT_FAILURE", attempts=1)

It serves GetAccount, SendEmail (Simple, Raw, inline Template) and SendBulkEmail exactly at the
paths in botocore's sesv2 model, validates every request against that model, counts quotas per
recipient, and can post SES events (Send, Delivery, Bounce, Complaint, Reject, DeliveryDelay)
as signed SNS notifications to `events_url`. `/_sim/…` is an admin API for doing the same from
another process (see `tests.tools.ses_simulator.admin`). It only ever binds to and posts to
loopback.
"""

from __future__ import annotations

from tests.tools.ses_simulator.config import SimulatorConfig
from tests.tools.ses_simulator.faults import BULK_STATUSES, Faults
from tests.tools.ses_simulator.records import RequestDigest, RequestRecord, SentMessage
from tests.tools.ses_simulator.simulator import SesSimulator

__all__ = [
    "BULK_STATUSES",
    "Faults",
    "RequestDigest",
    "RequestRecord",
    "SentMessage",
    "SesSimulator",
    "SimulatorConfig",
]
