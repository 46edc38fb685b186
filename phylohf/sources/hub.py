"""Real Hub data through ``huggingface_hub``: family crawls, the whole listing, dataset snapshots, cards.

* ``hub:MODEL_ID``: the model's family. Up from the model by the Hub's primary parent
  (``GET /api/models/<id>``; ``baseModels``, else the normalised record's first parent)
  to its true root, then breadth-first down: the children of a model are one listing
  filtered on the plain ``base_model:<id>`` tag every child carries beside its
  ``base_model:<relation>:<id>`` tag (the relation is read from those tags), with card
  data, config, ``baseModels`` and ``childrenModelCount`` expanded. Models whose
  ``childrenModelCount`` is 0 (most of them) need no request at all, so a family costs
  about one request per model *with* children. Each model is stored once, as it arrives.
* ``hub:all``: the whole listing, page by page (cursor pagination, ``Link: rel="next"``),
  the next page fetched while the last one is written.
* ``hf-dataset:OWNER/NAME:FILE.parquet[@REV]``: a snapshot file fetched with
  ``hf_hub_download`` (see :mod:`phylohf.store.ingest`).
* cards (``cards=True``): the ``README.md`` of each model, stored with its record;
  a missing card is a problem row of the store.

Requests go through huggingface_hub's HTTP layer (2.x: ``httpx2``; pyproject.toml declares
``>=2.0`` and CI runs the Hub tests on 2.0 too) with the query parameters
``list_models`` sends: ``http_stream_backoff`` retries 408/429/5xx, timeouts and dropped
connections with exponential backoff (``Retry-After`` and ``RateLimit`` headers honoured),
``hf_raise_for_status`` gives typed errors. Pages are requested here rather than through
``list_models`` because that generator hides the cursor, and the cursor of the next page
is committed together with the page: a killed crawl (even ``kill -9``) resumes with the
same command from the store (``crawls``: root, cursor, count; ``crawl_frontier``: the
models whose children are listed or still to list), never stores a model twice and ends
with the store an uninterrupted crawl gives. Only requests whose answers were not yet
committed are repeated (listing: at most ~1 s or 5,000 models; family: one batch of
``4 * workers`` models' children).

Ids from remote data are data, never URL paths: every id is checked against the Hub's
repo-id rules (huggingface_hub's ``validate_repo_id``: ``name`` or ``namespace/name``,
letters, digits, ``-_.``, no ``--`` or ``..``, at most 96 characters) before it becomes a
request, and URL-quoted in paths; a rejected id is a problem row, never a request. So is
a next-page link that leaves ``<endpoint>/api/models``.

Faults: a body that is not JSON is fetched again up to ``retries`` times, then recorded
and skipped, as are gated/private (401/403) and deleted (404) models, missing cards and
answers longer than :data:`MAX_ANSWER_BYTES` (refused as they arrive, never held whole);
a connection cut while an answer arrives is retried too; a request still failing after
the retries stops the crawl (:class:`HubUnavailable`), keeping everything committed.

Rate limits of the Hub (per 5-minute window; API / resolvers): anonymous 500 / 3,000,
free account 1,000 / 5,000, PRO 2,500 / 12,000. Request starts are spaced to stay within
the API quota of the tier (anonymous, or free when a token is found; raise it with
``api_quota``; cards use the resolver quota, six times the API one), up to ``workers``
requests overlap, and all requests wait when a ``RateLimit`` header says the window is
spent. Tokens come from huggingface_hub (``HF_TOKEN``, ``hf auth login``) and go only
into the ``Authorization`` header: never into the store, a message or a log.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote

import httpx2
from huggingface_hub import constants, hf_hub_url
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.utils import (build_hf_headers, get_token, hf_raise_for_status, http_stream_backoff,
                                   parse_ratelimit_headers, validate_repo_id)

from .. import __version__
from .normalize import normalize
from .records import json_body

WINDOW = 300.0                              # seconds: the Hub's rate-limit window
API_QUOTA = {False: 500, True: 1000}        # API requests per window, without / with a token
RESOLVE_PER_API = 6                         # resolver (file) quota per API request allowed
FIELDS = ["author", "cardData", "config", "createdAt", "lastModified", "downloads", "likes",
          "library_name", "pipeline_tag", "tags", "gated", "private", "baseModels", "childrenModelCount",
          "downloadsAllTime", "safetensors", "gguf", "siblings"]
TRANSIENT = (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError)
# An answer longer than this is refused, so memory stays bounded (a listing page of 1,000
# models with every field is a few MB)
MAX_ANSWER_BYTES = 64 << 20
RESUME = "run the same command again to resume"
Problem = tuple[str | None, str]            # (model id or None, what went wrong)


class HubUnavailable(RuntimeError):
    """Requests still fail after the retries, or the listing is refused: the crawl stops,
    what it stored is kept."""


class AnswerTooLarge(Exception):
    """An answer longer than :data:`MAX_ANSWER_BYTES`; ``response`` has its status and headers."""

    def __init__(self, response: httpx2.Response):
        super().__init__(f"larger than {MAX_ANSWER_BYTES:,} bytes, not read")
        self.response = response


def _bounded(r: httpx2.Response) -> httpx2.Response:
    """Streamed answer ``r`` read into memory, or :class:`AnswerTooLarge` once it passes
    :data:`MAX_ANSWER_BYTES`."""
    body, size = [], 0
    for chunk in r.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise AnswerTooLarge(r)
        body.append(chunk)
    headers = [(k, v) for k, v in r.headers.multi_items()     # the body is decoded now
               if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
    return httpx2.Response(r.status_code, headers=headers, content=b"".join(body), request=r.request)


@dataclass
class HubSettings:
    endpoint: str | None = None     # default: $HF_ENDPOINT, else https://huggingface.co
    token: str | bool | None = None  # default: huggingface_hub's (HF_TOKEN, login); False: none
    api_quota: int | None = None    # API requests per 5 minutes (default: by tier, see module doc)
    workers: int = 4                # requests in flight at most
    retries: int = 5
    backoff: float = 1.0            # first retry wait in seconds, doubled up to 8x
    timeout: float = 30.0           # seconds per request
    page_size: int = 1000
    cards: bool = False


class Pacer:
    """Spaces request starts to at most ``quota`` per window; waits out a spent window."""

    def __init__(self, quota: int):
        self.gap = WINDOW / quota
        self.next = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.gap
        time.sleep(start - now)

    def observe(self, headers) -> None:
        info = parse_ratelimit_headers(headers)
        if info is not None and info.remaining == 0:
            with self.lock:
                self.next = max(self.next, time.monotonic() + info.reset_in_seconds)


def _short(url: str) -> str:
    """A URL for messages: the path, and the cursor of a listing page."""
    path, _, query = url.partition("?")
    cursor = [q for q in query.split("&") if q.startswith("cursor=")]
    return f"{path}?{cursor[0]}" if cursor else path


def invalid_id(model_id: object) -> str | None:
    """Why ``model_id`` is not a Hub repo id (None when it is one)."""
    try:
        validate_repo_id(model_id)
    except HFValidationError as e:
        return str(e)
    return None if isinstance(model_id, str) and model_id else "empty model id"


def _rejected(model_id: object) -> Problem:
    return (str(model_id)[:200], "invalid model id, skipped and not requested (Hub repo-id rules)")


def primary_parent(record: dict) -> str | None:
    """The Hub's primary parent of a record: the first of ``baseModels``, else the first
    parent normalisation finds (card, relation tags)."""
    base = record.get("baseModels")
    models = base.get("models") if isinstance(base, dict) else None
    if isinstance(models, list) and models and isinstance(models[0], dict) and isinstance(models[0].get("id"), str):
        return models[0]["id"]
    parents = normalize(record).parents
    return parents[0][0] if parents else None


def has_no_children(record: object) -> bool:
    """Whether the Hub says the model has no children (``childrenModelCount`` 0)."""
    return isinstance(record, dict) and record.get("childrenModelCount") == 0


def _why(status: int) -> str:
    return {401: "gated or private", 403: "gated or private", 404: "not found: deleted or private"}.get(
        status, "refused")


class HubClient:
    """The requests of a crawl, paced, retried, and with typed outcomes."""

    def __init__(self, settings: HubSettings | None = None):
        self.s = s = settings or HubSettings()
        self.endpoint = (s.endpoint or constants.ENDPOINT).rstrip("/")
        self.headers = build_hf_headers(token=s.token, library_name="phylohf", library_version=__version__)
        quota = s.api_quota or API_QUOTA[bool(s.token if s.token is not None else get_token())]
        self.pacers = {"api": Pacer(quota), "resolve": Pacer(RESOLVE_PER_API * quota)}
        self.requests: Counter = Counter()  # requests started, by bucket (api, resolve)
        self.lock = threading.Lock()

    def get(self, url: str, params: dict | None = None, bucket: str = "api") -> httpx2.Response:
        """One GET; raises HfHubHTTPError for 4xx, AnswerTooLarge, HubUnavailable when
        retries are spent."""
        self.pacers[bucket].wait()
        with self.lock:
            self.requests[bucket] += 1
        try:
            r = self._read(url, params)
            self.pacers[bucket].observe(r.headers)
            hf_raise_for_status(r)
        except TRANSIENT as e:
            raise HubUnavailable(f"{_short(url)}: {type(e).__name__} after {self.s.retries} retries") from None
        except HfHubHTTPError as e:
            status = e.response.status_code
            if status in (408, 429) or status >= 500:
                raise HubUnavailable(f"{_short(url)}: HTTP {status} after {self.s.retries} retries") from None
            raise
        return r

    def _pause(self, attempt: int) -> None:
        """The wait before retry ``attempt + 1``: ``backoff``, doubled up to 8x (as huggingface_hub's)."""
        time.sleep(self.s.backoff * 2 ** min(attempt, 3))

    def _read(self, url: str, params: dict | None) -> httpx2.Response:
        """A GET's answer, read whole (see :func:`_bounded`): huggingface_hub retries the
        request, this the reading of a body that a cut connection ended early."""
        for attempt in itertools.count():
            with http_stream_backoff("GET", url, params=params, headers=self.headers, timeout=self.s.timeout,
                                     max_retries=self.s.retries, base_wait_time=self.s.backoff,
                                     max_wait_time=8 * self.s.backoff) as r:
                try:
                    return _bounded(r)
                except TRANSIENT:
                    if attempt >= self.s.retries:
                        raise
            self._pause(attempt)

    def get_json(self, url: str, params: dict | None = None) -> tuple[object, httpx2.Response]:
        """(parsed body or None when it stays malformed after the retries, response)."""
        for attempt in range(self.s.retries + 1):
            r = self.get(url, params)
            try:
                return json_body(r.text), r
            except ValueError:
                if attempt < self.s.retries:
                    self._pause(attempt)
        return None, r

    def listing_params(self, tag: str | None = None, limit: int | None = None) -> dict:
        """``list_models(filter=tag, expand=FIELDS, limit=...)``'s query."""
        params: dict = {"expand": FIELDS, "limit": min(limit or self.s.page_size, self.s.page_size)}
        if tag:
            params["filter"] = [tag]
        return params

    def pages(self, url: str, params: dict | None) -> Iterator[tuple[list[dict], str | None, list[Problem]]]:
        """(records, URL of the next page or None, problems) page by page."""
        while url:
            why = f"not a JSON list after {self.s.retries} retries"
            try:
                body, r = self.get_json(url, params)
            except HfHubHTTPError as e:         # e.g. 401: an invalid token
                raise HubUnavailable(f"{_short(url)}: HTTP {e.response.status_code}; check your "
                                     f"token (HF_TOKEN, hf auth login) and HF_ENDPOINT") from None
            except AnswerTooLarge as e:
                body, r, why = None, e.response, str(e)
            problems = [] if isinstance(body, list) else [(None, f"listing page skipped ({why}): {_short(str(r.url))}")]
            url, params = r.links.get("next", {}).get("url"), None
            if url and not url.startswith(f"{self.endpoint}/api/models?"):     # the link is remote data too
                problems.append((None, f"listing stopped: next-page link outside {self.endpoint}/api/models"))
                url = None
            yield body if isinstance(body, list) else [], url, problems

    def model(self, model_id: str) -> tuple[dict | None, Problem | None]:
        """(record, None), or (None, why) for a gated, private, deleted, malformed or invalid model."""
        if invalid_id(model_id):
            return None, _rejected(model_id)
        try:
            body, _ = self.get_json(f"{self.endpoint}/api/models/{quote(model_id, safe='/')}", {"expand": FIELDS})
        except HfHubHTTPError as e:
            code = e.response.status_code
            return None, (model_id, f"model skipped (HTTP {code}, {_why(code)})")
        except AnswerTooLarge as e:
            return None, (model_id, f"model skipped (record {e})")
        if not isinstance(body, dict):
            return None, (model_id, "model skipped (malformed JSON record)")
        return body, None

    def children(self, model_id: str) -> tuple[list[dict], list[Problem]]:
        """Records of the models declaring ``model_id`` as a base model (any relation): one
        listing on the ``base_model:<id>`` tag (a page per 1,000 children)."""
        if invalid_id(model_id):
            return [], [_rejected(model_id)]
        records, problems = [], []
        for page, _, bad in self.pages(f"{self.endpoint}/api/models", self.listing_params(f"base_model:{model_id}")):
            for r in page:      # malformed records go on to the reader; invalid ids stop here
                ident = r.get("id") if isinstance(r, dict) else None
                if isinstance(ident, str) and invalid_id(ident):
                    problems.append(_rejected(ident))
                else:
                    records.append(r)
            problems += bad
        return records, problems

    def card(self, model_id: str) -> tuple[str | None, Problem | None]:
        """(model-card text, None) or (None, why it is missing)."""
        if invalid_id(model_id):
            return None, _rejected(model_id)
        try:
            url = hf_hub_url(quote(model_id, safe="/"), "README.md", endpoint=self.endpoint)
            return self.get(url, bucket="resolve").text, None
        except HfHubHTTPError as e:
            code = e.response.status_code
            return None, (model_id, f"no model card (HTTP {code}, {_why(code) if code != 404 else 'no README.md'})")
        except AnswerTooLarge as e:
            return None, (model_id, f"no model card ({e})")

    def find_root(self, model_id: str) -> tuple[str, dict | None, list[Problem]]:
        """Up by the Hub's primary parents: (root id, its record or None, problems on the way)."""
        record, why = self.model(model_id)
        if record is None:
            return model_id, None, [why]
        node, seen = model_id, {model_id}
        while (parent := primary_parent(record)) is not None and parent not in seen:
            up, why = self.model(parent)
            if up is None:
                return node, record, [why]
            node, record = parent, up
            seen.add(node)
        return node, record, []

    def with_cards(self, records: list[dict], pool: ThreadPoolExecutor) -> list[Problem]:
        """Add each record's card text (``card``) in place; problems for the missing ones."""
        if not self.s.cards:
            return []
        problems = []
        records = [r for r in records if isinstance(r, dict) and isinstance(r.get("id"), str)]
        for record, (text, why) in zip(records, pool.map(self.card, [r["id"] for r in records])):
            record["card"] = text
            if why:
                problems.append(why)
        return problems


def parse_dataset(spec: str) -> tuple[str, str, str | None]:
    """``hf-dataset:OWNER/NAME:FILE[@REV]`` -> (repo id, file, revision or None)."""
    body, revision = spec.removeprefix("hf-dataset:"), None
    if "@" in body:
        body, revision = body.rsplit("@", 1)
    repo, _, filename = body.partition(":")
    if repo.count("/") != 1 or not filename:
        raise ValueError(f"cannot read {spec!r}: write hf-dataset:OWNER/NAME:FILE.parquet[@REVISION]")
    return repo, filename, revision or None
