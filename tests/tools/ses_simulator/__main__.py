"""`python -m tests.tools.ses_simulator`: run the SES simulator until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tests.tools.ses_simulator.config import SimulatorConfig
from tests.tools.ses_simulator.simulator import SesSimulator


def parse_args(argv: list[str] | None = None) -> SimulatorConfig:
    parser = argparse.ArgumentParser(
        prog="python -m tests.tools.ses_simulator", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--max-send-rate", type=float, default=14.0)
    parser.add_argument("--max-24-hour-send", type=float, default=50_000.0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--record-mode", choices=("full", "digest"), default="full")
    parser.add_argument("--escape-html", action="store_true", help="{{x}} escapes HTML")
    parser.add_argument("--events-url", help="post SES events here, e.g. .../hooks/ses")
    parser.add_argument("--topic-arn", default=SimulatorConfig.topic_arn)
    parser.add_argument("--signature-version", choices=("1", "2"), default="1")
    parser.add_argument("--send-event-delay-ms", type=float, default=0.0)
    parser.add_argument("--event-delay-ms", type=float, default=0.0)
    parser.add_argument("--require-configuration-set", action="store_true")
    parser.add_argument("--cert-file", help="write the SNS signing certificate here")
    args = parser.parse_args(argv)
    try:
        return _config(args)
    except ValueError as error:
        parser.error(str(error))


def _config(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        region=args.region,
        max_send_rate=args.max_send_rate,
        max_24_hour_send=args.max_24_hour_send,
        latency=args.latency_ms / 1000,
        jitter=args.jitter_ms / 1000,
        record_mode=args.record_mode,
        escape_html=args.escape_html,
        events_url=args.events_url,
        topic_arn=args.topic_arn,
        signature_version=args.signature_version,
        send_event_delay=args.send_event_delay_ms / 1000,
        event_delay=args.event_delay_ms / 1000,
        events_require_configuration_set=args.require_configuration_set,
        cert_path=args.cert_file,
    )


def main(argv: list[str] | None = None) -> int:
    simulator = SesSimulator(parse_args(argv)).start()
    print(f"SES simulator listening on {simulator.endpoint_url}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
