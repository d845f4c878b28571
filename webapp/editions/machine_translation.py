"""Chinese to English through Amazon Translate's TranslateText, one text at a time.

The client is boto3's `translate` client; this module adds what a report needs around it:
texts longer than one request are split on sentence boundaries, throttling and the service's
transient errors are retried with backoff (the sleep is injected, and no caller holds a
transaction while it waits), and every other error is sorted into one that concerns this
text only (`TextRefused`) or every text of the run (`TranslationStopped`: a missing
terminology, no credentials, no access).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from decimal import ROUND_UP, Decimal
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from webapp.config import Settings

# Amazon Translate's standard real-time translation costs USD 15 per million characters
# (aws.amazon.com/translate/pricing, 2024; the free tier is not counted). Shown to the
# editor as an estimate before a run: the bill is Amazon's, per character sent.
PRICE_PER_MILLION_CHARACTERS_USD = Decimal("15")
# TranslateText takes at most 10,000 bytes of UTF-8 per request (Amazon Translate's quotas;
# about 3,300 Chinese characters).
MAX_REQUEST_BYTES = 10_000
MAX_ATTEMPTS = 5  # per request: throttling and transient errors are tried this often
BACKOFF_FIRST = 1.0  # seconds before the second attempt, doubling
BACKOFF_MAX = 20.0

# Worth another try after a pause. ThrottlingException is not in TranslateText's model but is
# what AWS's front end answers when an account's rate is exceeded.
RETRYABLE = frozenset({
    "ThrottlingException", "TooManyRequestsException", "ServiceUnavailableException",
    "InternalServerException", "RequestTimeout", "RequestTimeoutException",
})
# Answers that would be the same for every text of the run: it stops at the first.
STOPPING = frozenset({
    "ResourceNotFoundException",  # the terminology named by TRANSLATE_TERMINOLOGY is missing
    "UnsupportedLanguagePairException",
    "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
    "ExpiredTokenException", "InvalidClientTokenId", "IncompleteSignature",
    "MissingAuthenticationToken",
})

Sleep = Callable[[float], None]


class TranslateClient(Protocol):
    """What is used of boto3's `translate` client."""

    def translate_text(self, **kwargs: Any) -> Mapping[str, Any]: ...


class TextRefused(Exception):
    """This text could not be translated (too long, language unclear, still throttled after
    every attempt …); other texts may be."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}" if message else code)


class TranslationStopped(Exception):
    """No text of the run can be translated (a missing terminology, no credentials …)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}" if message else code)


def translate_client(settings: Settings) -> TranslateClient:
    """boto3's client for TRANSLATE_REGION; retries are ours (counted, with backoff)."""
    client: TranslateClient = boto3.client(
        "translate",
        region_name=settings.translate_region,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                      connect_timeout=10, read_timeout=30),
    )
    return client


def estimated_cost_usd(characters: int) -> Decimal:
    """What Amazon would charge for `characters`, rounded up to the cent."""
    cost = PRICE_PER_MILLION_CHARACTERS_USD * characters / 1_000_000
    return cost.quantize(Decimal("0.01"), rounding=ROUND_UP)


# Where a sentence ends; closing quotes and brackets after it stay with it.
_ENDS = frozenset("。！？；!?;\n")
_CLOSERS = frozenset("”’」』）)]\"'")


def sentences(text: str) -> Iterator[str]:
    """`text` in pieces that each end a sentence (or a line), together exactly `text`."""
    start = index = 0
    while index < len(text):
        if text[index] in _ENDS:
            index += 1
            while index < len(text) and (text[index] in _ENDS or text[index] in _CLOSERS):
                index += 1
            yield text[start:index]
            start = index
        else:
            index += 1
    if start < len(text):
        yield text[start:]


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(sentence: str, limit: int) -> Iterator[str]:
    """A sentence longer than one request, cut between characters."""
    piece = ""
    for character in sentence:
        if _size(piece) + _size(character) > limit:
            yield piece
            piece = ""
        piece += character
    if piece:
        yield piece


def chunks(text: str, limit: int = MAX_REQUEST_BYTES) -> list[str]:
    """`text` as whole sentences packed into pieces of at most `limit` UTF-8 bytes."""
    packed: list[str] = []
    current = ""
    for sentence in sentences(text):
        parts = [sentence] if _size(sentence) <= limit else list(_cut(sentence, limit))
        for part in parts:
            if current and _size(current) + _size(part) > limit:
                packed.append(current)
                current = ""
            current += part
    if current:
        packed.append(current)
    return packed


class Translator:
    """zh → en through one client, with the firm's terminology when there is one."""

    def __init__(
        self,
        client: TranslateClient,
        *,
        terminology: str | None = None,
        sleep: Sleep = time.sleep,
        limit: int = MAX_REQUEST_BYTES,
    ) -> None:
        self.client = client
        self.terminology = terminology
        self.sleep = sleep
        self.limit = limit

    def translate(self, text: str) -> str:
        """The English of `text`; a long text is sent in pieces and put together again,
        keeping its line breaks."""
        out: list[str] = []
        for chunk in chunks(text, self.limit):
            body = chunk.strip()
            if body:
                if out and not out[-1].endswith("\n"):
                    out.append(" ")
                out.append(self._request(body))
            trailing = chunk[len(chunk.rstrip()):]
            out.append("\n" * trailing.count("\n"))
        return "".join(out).strip()

    def _request(self, text: str) -> str:
        request: dict[str, Any] = {
            "Text": text, "SourceLanguageCode": "zh", "TargetLanguageCode": "en",
        }
        if self.terminology:
            request["TerminologyNames"] = [self.terminology]
        wait = BACKOFF_FIRST
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                answer = self.client.translate_text(**request)
            except ClientError as error:
                details = error.response.get("Error", {})
                code = str(details.get("Code", "")) or "ClientError"
                message = str(details.get("Message", ""))
                if code in STOPPING:
                    raise TranslationStopped(code, message) from None
                if code not in RETRYABLE:
                    raise TextRefused(code, message) from None
                last = TextRefused(code, f"still refused after {MAX_ATTEMPTS} attempts")
            except (NoCredentialsError, PartialCredentialsError) as error:
                raise TranslationStopped("NoCredentials", str(error)) from None
            except (ConnectionError, HTTPClientError) as error:
                last = TextRefused(type(error).__name__, str(error))
            except BotoCoreError as error:
                raise TextRefused(type(error).__name__, str(error)) from None
            else:
                return str(answer["TranslatedText"])
            if attempt < MAX_ATTEMPTS:
                self.sleep(wait)  # never inside a transaction: callers hold none here
                wait = min(BACKOFF_MAX, wait * 2)
        raise last
