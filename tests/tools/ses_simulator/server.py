"""The HTTP side: a ThreadingHTTPServer on loopback answering SES v2 REST-JSON like AWS does."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Literal

from tests.tools.ses_simulator import model
from tests.tools.ses_simulator.admin import handle_admin
from tests.tools.ses_simulator.content import SesError, bad_request
from tests.tools.ses_simulator.replies import Reply, error_reply, json_reply

if TYPE_CHECKING:
    from tests.tools.ses_simulator.simulator import SesSimulator


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of parallel clients must not be refused at accept()

    def __init__(self, address: tuple[str, int], simulator: SesSimulator) -> None:
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, SimulatorHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Drop idle keep-alive connections, whose handler threads would otherwise linger."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SimulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    # Headers and body go out in two writes; with Nagle on, the second waits ~40 ms for the
    # client's delayed ACK on every keep-alive request.
    disable_nagle_algorithm = True
    server: SimulatorServer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test run sends thousands of requests."""

    def _dispatch(self, method: str) -> None:
        simulator = self.server.simulator
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if path.startswith("/_sim/"):
            reply = handle_admin(simulator, method, path, query, body)
        else:
            operation = model.route(method, path)
            reply = serve_api(simulator, operation, path, body)
            status = reply.status if reply.action == "answer" else 0  # 0: never answered
            headers = dict(self.headers.items())
            simulator.recorder.add_request(
                method, path, operation, headers, body, status, reply.recipients
            )
        self._respond(reply)

    def _respond(self, reply: Reply) -> None:
        if reply.action == "hang":
            self.server.simulator.stopping.wait(reply.hang)
        if reply.action != "answer":
            self.close_connection = True  # never answered: the client sees a timeout or a reset
            return
        self.send_response(reply.status)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        try:
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def serve_api(simulator: SesSimulator, operation: str | None, path: str, body: bytes) -> Reply:
    """One SES API request, already routed: latency, faults, parse, validate, run."""
    if operation is None:
        error = SesError(404, "UnknownOperationException", f"No SES v2 operation at {path}.")
        return error_reply(error)
    if operation not in model.SUPPORTED_OPERATIONS:
        message = f"{operation} is not implemented by the SES simulator."
        return error_reply(SesError(404, "UnknownOperationException", message))
    config = simulator.config
    delay = config.latency + (random.uniform(0, config.jitter) if config.jitter else 0.0)
    if delay:
        time.sleep(delay)
    fault = simulator.faults.take_request_fault(operation)
    if fault is not None and fault.kind == "error":
        message = f"Simulated {fault.code} (HTTP {fault.status})."
        return error_reply(SesError(fault.status, fault.code, message))
    if fault is not None:
        recipients = 0
        if fault.process:
            recipients = run_operation(simulator, operation, body).recipients
        action: Literal["hang", "close"] = "close" if fault.kind == "close" else "hang"
        return Reply(action=action, hang=fault.seconds, recipients=recipients)
    return run_operation(simulator, operation, body)


def run_operation(simulator: SesSimulator, operation: str, body: bytes) -> Reply:
    try:
        request = _parse(body)
        if not model.conforms(operation)(request):
            errors = model.validate(model.input_shape(operation), request)
            if errors:
                raise bad_request(model.validation_message(errors))
        response, recipients = simulator.api.call(operation, request)
    except SesError as error:
        return error_reply(error)
    return json_reply(200, response, recipients)


def _parse(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(request, dict):
        raise bad_request("The request body must be a JSON object.")
    return request


def serve_in_thread(server: SimulatorServer) -> threading.Thread:
    # A short poll interval keeps stop() quick; shutdown() waits for one poll.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="ses-sim-http", daemon=True
    )
    thread.start()
    return thread
