"""The /_sim/… admin API, for driving a simulator that runs in another process.

GET  /_sim/health                     {"ok": true}
GET  /_sim/cert.pem                   the SNS signing certificate (PEM)
GET  /_sim/messages[?to=addr]         recorded messages as JSON
GET  /_sim/stats                      counts, quota usage, event delivery
GET  /_sim/faults                     what is armed
POST /_sim/faults                     arm one fault {"kind": …} or a list of them
DELETE /_sim/faults                   disarm all
POST /_sim/reset                      forget everything
POST /_sim/config                     {"max_send_rate", "max_24_hour_send", "latency", "jitter",
                                       "events_url", "topic_arn", "signature_version",
                                       "event_delay", "send_event_delay"}
POST /_sim/events                     {"eventType", "messageId", "recipient"?, …details}
POST /_sim/events/flush               wait for queued notifications: {"flushed": bool}
POST /_sim/subscription-confirmation  post a SubscriptionConfirmation
GET  /_sim/confirm-subscription       the SubscribeURL target (Token must match)
GET  /_sim/unsubscribe                the UnsubscribeURL target: stops event publishing
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from tests.tools.ses_simulator.content import SesError
from tests.tools.ses_simulator.records import SentMessage
from tests.tools.ses_simulator.replies import Reply, error_reply, json_reply

if TYPE_CHECKING:
    from tests.tools.ses_simulator.simulator import SesSimulator

_CONFIG_KEYS = (
    "latency",
    "jitter",
    "topic_arn",
    "signature_version",
    "event_delay",
    "send_event_delay",
)


def handle_admin(simulator: SesSimulator, method: str, path: str, query: str, body: bytes) -> Reply:
    params = {key: values[-1] for key, values in parse_qs(query).items()}
    try:
        payload = json.loads(body) if body.strip() else {}
        return _route(simulator, method, path, params, payload)
    except (ValueError, TypeError, KeyError) as error:
        return error_reply(SesError(400, "BadRequestException", str(error)))


def _route(
    simulator: SesSimulator, method: str, path: str, params: dict[str, str], payload: Any
) -> Reply:
    route = (method, path.rstrip("/"))
    if route == ("GET", "/_sim/health"):
        return json_reply(200, {"ok": True})
    if route == ("GET", "/_sim/cert.pem"):
        return Reply(200, simulator.cert_pem, {"Content-Type": "application/x-pem-file"})
    if route == ("GET", "/_sim/messages"):
        wanted = params.get("to")
        chosen = simulator.messages_to(wanted) if wanted else simulator.messages
        return json_reply(200, [message_json(m) for m in chosen])
    if route == ("GET", "/_sim/stats"):
        return json_reply(200, simulator.stats())
    if route == ("GET", "/_sim/faults"):
        return json_reply(200, simulator.faults.snapshot())
    if route == ("POST", "/_sim/faults"):
        for spec in payload if isinstance(payload, list) else [payload]:
            simulator.faults.apply(spec)
        return json_reply(200, simulator.faults.snapshot())
    if route == ("DELETE", "/_sim/faults"):
        simulator.faults.clear()
        return json_reply(200, simulator.faults.snapshot())
    if route == ("POST", "/_sim/reset"):
        simulator.reset()
        return json_reply(200, {"ok": True})
    if route == ("POST", "/_sim/config"):
        return json_reply(200, _configure(simulator, payload))
    if route == ("POST", "/_sim/events"):
        options = dict(payload)
        event_type, message_id = options.pop("eventType"), options.pop("messageId")
        recipient = options.pop("recipient", None)
        return json_reply(200, simulator.emit(event_type, message_id, recipient, **options))
    if route == ("POST", "/_sim/events/flush"):
        timeout = float(payload.get("timeout", 10.0)) if isinstance(payload, dict) else 10.0
        return json_reply(200, {"flushed": simulator.flush_events(timeout)})
    if route == ("POST", "/_sim/subscription-confirmation"):
        return json_reply(200, simulator.send_subscription_confirmation())
    if route == ("GET", "/_sim/confirm-subscription"):
        if params.get("Token") != simulator.subscription_token:
            return error_reply(SesError(400, "InvalidParameter", "Invalid token"))
        simulator.subscription_confirmed = True
        return _xml("ConfirmSubscription", simulator.subscription_arn)
    if route == ("GET", "/_sim/unsubscribe"):
        simulator.unsubscribed = True
        return _xml("Unsubscribe", None)
    return error_reply(SesError(404, "NotFound", f"No simulator admin route {method} {path}."))


def _configure(simulator: SesSimulator, payload: dict[str, Any]) -> dict[str, Any]:
    if "max_send_rate" in payload or "max_24_hour_send" in payload:
        simulator.set_limits(
            max_send_rate=payload.get("max_send_rate"),
            max_24_hour_send=payload.get("max_24_hour_send"),
        )
    if "events_url" in payload:
        simulator.events_url = payload["events_url"]
    for key in _CONFIG_KEYS:
        if key == "topic_arn" and key in payload:
            simulator.topic_arn = payload[key]
        elif key in payload:
            setattr(simulator.config, key, payload[key])
    config = asdict(simulator.config)
    return {key: config[key] for key in sorted(config)}


def message_json(message: SentMessage) -> dict[str, Any]:
    """A recorded message for JSON: `from` as the brief names it, raw bytes left out."""
    record = {f.name: getattr(message, f.name) for f in fields(message)}
    del record["raw"], record["body"]
    record["html"], record["text"] = message.html, message.text
    record["from"] = record.pop("sender")
    record["timestamp"] = message.timestamp.isoformat()
    return record


def _xml(action: str, subscription_arn: str | None) -> Reply:
    """SNS answers these GETs with XML; the app only needs a 200, but keep the shape."""
    result = f"<SubscriptionArn>{subscription_arn}</SubscriptionArn>" if subscription_arn else ""
    body = (
        f'<{action}Response xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
        f"<{action}Result>{result}</{action}Result></{action}Response>"
    )
    return Reply(200, body.encode(), {"Content-Type": "text/xml"})
