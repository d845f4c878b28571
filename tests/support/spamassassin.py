"""SpamAssassin's local rules on a message as sent: Debian's spamd on loopback, spamc per message.

One `spamassassin -t -L` per message costs ~1.5 s, nearly all of it loading the rules; spamd
loads them once per test session (~3 s) and then scores a system mail in ~0.1 s and a whole
edition in under 1 s. Only local rules run (`-L`: no DNS, no URI blocklists, no network), with
no Bayes and no per-user settings, so a score depends on the message alone.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess  # nosec B404: the tests drive spamd and spamc on purpose
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

# The bar: a total ≤ 0 and no rule at or above 0.1. HTML_MESSAGE (0.001) fires on every
# HTML mail and cannot be avoided; the rest of what may fire scores 0.001 or below zero.
MAX_RULE_SCORE: Final = 0.1
MAX_TOTAL: Final = 0.0
# spamc refuses larger messages unless told; an edition is ~200 KB as sent.
MAX_MESSAGE_BYTES: Final = 2_000_000
_REPORT_PREFIX: Final = "yuebao-rules:"
# Each rule hit with its exact score (`RULE=0.713`): the usual report rounds to one decimal.
_SETTINGS: Final = (
    "use_bayes 0",
    "bayes_auto_learn 0",
    "clear_report_template",
    f"report {_REPORT_PREFIX} _TESTSSCORES(,)_",
)
_SBIN: Final = "/usr/sbin:/usr/local/sbin"


@dataclass(frozen=True)
class Verdict:
    """What SpamAssassin made of one message: every rule hit and its score."""

    rules: dict[str, float]

    @property
    def total(self) -> float:
        return round(sum(self.rules.values()), 3)

    def offending(self, limit: float = MAX_RULE_SCORE) -> dict[str, float]:
        """The rules scoring at least `limit`."""
        return {name: score for name, score in self.rules.items() if score >= limit}

    @property
    def clean(self) -> bool:
        return self.total <= MAX_TOTAL and not self.offending()

    def describe(self) -> str:
        hits = ", ".join(f"{name} {score:g}" for name, score in sorted(self.rules.items()))
        return f"total {self.total:g}: {hits or 'no rules hit'}"


def parse_report(output: str) -> Verdict:
    """The rules from spamc's report (`score/threshold`, then our one-line template)."""
    for line in output.splitlines():
        if line.startswith(_REPORT_PREFIX):
            listed = line[len(_REPORT_PREFIX):].strip()
            rules: dict[str, float] = {}
            if listed == "none":  # what _TESTSSCORES_ says when no rule hit
                return Verdict(rules)
            for hit in filter(None, listed.split(",")):
                name, _, score = hit.partition("=")
                rules[name.strip()] = float(score)
            return Verdict(rules)
    raise ValueError(f"no SpamAssassin report in spamc's output: {output[:300]!r}")


def _program(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=_SBIN)
    if path is None:
        pytest.fail(
            f"{name} is not installed: run `make test`, which installs Debian's spamassassin, "
            "spamd and spamc (or `apt-get install spamassassin spamd spamc`)"
        )
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SpamAssassin:
    """spamd listening on 127.0.0.1 only, started once; `check` scores one raw message."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.spamc = _program("spamc")
        self.log = workdir / "spamd.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        command = [
            _program("spamd"), "--local", "--nouser-config",
            f"--listen=127.0.0.1:{self.port}", "--allowed-ips=127.0.0.1",
            "--max-children=2", "--min-children=1", "--syslog=stderr",
            f"--helper-home-dir={self.workdir}",
        ]
        # spamd will not check mail as root. It writes nothing (no Bayes, no user settings), so
        # nobody needs no access to the work directory, only to the rules.
        if os.geteuid() == 0:
            command.append("--username=nobody")
        command += [f"--cf={line}" for line in _SETTINGS]
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(  # nosec B603: a fixed command, no shell
                command, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.stop()
                pytest.fail(f"spamd exited at start:\n{self.log.read_text(errors='replace')}")
            if self._ping():
                return
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"spamd did not answer in {timeout:g} s:\n{self.log.read_text()}")

    def _spamc(self) -> list[str]:
        # One try: spamd on loopback either listens or is not there.
        return [self.spamc, "-d", "127.0.0.1", "-p", str(self.port), "--connect-retries=1"]

    def _ping(self) -> bool:
        result = subprocess.run(  # nosec B603: a fixed command, no shell
            [*self._spamc(), "-K"],
            capture_output=True, check=False, timeout=10,
        )
        return result.returncode == 0

    def check(self, raw: bytes) -> Verdict:
        """Score one message as it goes on the wire (CRLF line ends and all)."""
        result = subprocess.run(  # nosec B603: a fixed command, no shell
            # -x: an error is an error (spamc otherwise reports "0/0", a clean-looking score).
            [*self._spamc(), "-x", "-R", "-s", str(MAX_MESSAGE_BYTES)],
            input=raw, capture_output=True, check=False, timeout=60,
        )
        output = result.stdout.decode("utf-8", errors="replace")
        if result.returncode not in (0, 1):  # 1: spamc's "this is spam", still a report
            raise RuntimeError(
                f"spamc failed ({result.returncode}): {result.stderr.decode(errors='replace')}"
                f"\n{output}"
            )
        return parse_report(output)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


@pytest.fixture(name="spamassassin", scope="session")
def spamassassin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpamAssassin]:
    """One spamd for the whole run, for the tests that import this fixture."""
    server = SpamAssassin(tmp_path_factory.mktemp("spamd"))
    server.start()
    yield server
    server.stop()
