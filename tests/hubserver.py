"""A local Hub-like HTTP server for the tests and the crawl benchmark (127.0.0.1, a free port).

It serves, from fixture records in the API's camelCase listing shape:

* ``GET /api/models``: ``filter`` (repeated, all must match a tag), ``author``, ``search``
  (substring of the id), ``limit`` (page size), cursor pagination with a
  ``Link: <...>; rel="next"`` header, and the response shapes of ``expand=`` (only the
  fields asked for, plus ``_id`` and ``id``), ``full``, ``cardData`` and ``config``;
* the Hub's model-tree fields, derived from the tags unless a record has its own:
  ``childrenModelCount`` (the models carrying the tag ``base_model:<id>``) and
  ``baseModels`` (``{"models": [{"_id", "id"}], "relation"}`` from the
  ``base_model:<relation>:<id>`` tags: every merge parent, else the first parent);
* ``GET /api/models/<id>`` (401/403 for ``denied`` models, 404 for unknown ones);
* ``GET /api/whoami-v2``: an account (name, email, token name), for tests that no crawl
  ever leaves the ``/api/models`` space;
* ``GET``/``HEAD /<id>/resolve/<rev>/README.md`` (the card; 404 ``EntryNotFound`` when
  the model has none) and ``/datasets/<repo>/resolve/<rev>/<file>`` for ``hf_hub_download``.

Faults are queued with :meth:`HubServer.inject` and consumed by the next matching
requests: ``429`` (``Retry-After: 0``), ``ratelimit`` (429 with ``RateLimit`` headers),
``500``, ``slow`` (the answer comes after ``slow_seconds``), ``truncated`` (200 with half
a JSON body), ``drop`` (the connection is closed without an answer), ``cut`` (closed
after half the body its ``Content-Length`` announces), ``huge`` (the answer followed by
``huge_bytes`` of white space, sent 64 KiB at a time) and ``offsite`` (a listing page
whose next-page link points at ``/api/whoami-v2``). ``delay`` slows
every listing page (for kill tests). Every request is logged in ``requests``.
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pyarrow as pa
import pyarrow.compute as pc

DEFAULT_FIELDS = ("id", "likes", "downloads", "private", "pipeline_tag", "library_name", "tags", "createdAt",
                  "modelId")
FULL_FIELDS = DEFAULT_FIELDS + ("author", "lastModified", "gated", "sha", "siblings")


def api_records(listing: pa.Table) -> tuple[list[dict], dict[str, str]]:
    """A simulated listing as API records (ISO dates, cardData/config as objects) and the
    card texts by model id."""
    for name in ("createdAt", "lastModified"):
        # "%S" of a millisecond timestamp has the milliseconds, as the Hub's "...:12.466Z"
        iso = pc.strftime(pc.cast(listing[name], pa.timestamp("ms")), format="%Y-%m-%dT%H:%M:%SZ")
        listing = listing.set_column(listing.schema.get_field_index(name), name, iso)
    records, cards = [], {}
    for r in listing.to_pylist():
        card = r.pop("card")
        if card:
            cards[r["id"]] = card
        for key in ("cardData", "config"):
            if r[key] is not None:
                try:
                    r[key] = json.loads(r[key])
                except ValueError:
                    pass            # YAML card data stays text, as some dumps have it
        r["_id"] = _object_id(r["id"])
        r["sha"] = hashlib.sha1(r["id"].encode()).hexdigest()
        r["siblings"] = [{"rfilename": "README.md"}] if card else []
        records.append(r)
    return records, cards


class HubServer:
    """Start with ``with HubServer(records, cards) as hub:``; ``hub.url`` is the endpoint."""

    def __init__(self, records: list[dict], cards: dict[str, str] | None = None,
                 files: dict[tuple[str, str], bytes] | None = None, denied: dict[str, int] | None = None,
                 page_size: int = 1000, slow_seconds: float = 2.0):
        self.records = _with_model_tree(records)  # malformed ones (no id, not an object) served as they are
        self.by_id = {r["id"]: r for r in self.records if isinstance(r, dict) and r.get("id")}
        self.by_tag: dict[str, list[int]] = {}
        for i, r in enumerate(self.records):
            for tag in set(r.get("tags") or () if isinstance(r, dict) else ()):
                self.by_tag.setdefault(tag, []).append(i)
        self.cards = cards or {}
        self.files = files or {}            # (dataset repo, file) -> bytes, any revision
        self.denied = denied or {}          # model id -> 401 or 403
        self.page_size = page_size
        self.slow_seconds = slow_seconds
        self.delay = 0.0
        self.huge_bytes = 100 << 20
        self.faults: list[list] = []        # [path prefix, kind, requests to let pass first, times left]
        self.requests: list[tuple[str, str, str | None]] = []   # method, path with query, Authorization
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "HubServer":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def inject(self, kind: str, times: int = 1, path: str = "/api/models", after: int = 0) -> None:
        """Requests whose decoded path with query contains ``path`` get fault ``kind``,
        ``times`` times, after ``after`` such requests were answered normally."""
        with self.lock:
            self.faults.append([path, kind, after, times])

    def fault(self, path: str) -> str | None:
        with self.lock:
            for f in self.faults:
                if f[0] in path and f[3] > 0:
                    if f[2] > 0:
                        f[2] -= 1
                        continue
                    f[3] -= 1
                    return f[1]
        return None

    def pending(self) -> int:
        """Faults injected and not yet served."""
        with self.lock:
            return sum(f[3] for f in self.faults)

    def count(self, path: str) -> int:
        """How many requests were made for decoded paths (with query) starting with ``path``."""
        with self.lock:
            return sum(p.startswith(path) for _, p, _ in self.requests)

    # -- answers: (status, headers, body) ---------------------------------------------------
    def listing(self, query: dict[str, list[str]]) -> tuple[int, dict, bytes]:
        rows = range(len(self.records))
        for tag in query.get("filter", []):
            rows = sorted(set(rows) & set(self.by_tag.get(tag, ())))
        if "author" in query:
            rows = [i for i in rows if self.field(i, "author") == query["author"][0]]
        if "search" in query:
            rows = [i for i in rows if query["search"][0].lower() in (self.field(i, "id") or "").lower()]
        size = min(int(query.get("limit", [self.page_size])[0]), self.page_size)
        start = int(base64.urlsafe_b64decode(query["cursor"][0])) if "cursor" in query else 0
        page = [self.shape(self.records[i], query, listing=True) for i in rows[start:start + size]]
        headers = {}
        if start + size < len(rows):
            rest = {k: v for k, v in query.items() if k != "cursor"}
            cursor = base64.urlsafe_b64encode(str(start + size).encode()).decode()
            headers["Link"] = f'<{self.url}/api/models?{urlencode(rest, doseq=True)}&cursor={cursor}>; rel="next"'
        return 200, headers, json.dumps(page).encode()

    def field(self, i: int, name: str):
        return self.records[i].get(name) if isinstance(self.records[i], dict) else None

    def shape(self, record: dict, query: dict[str, list[str]], listing: bool) -> dict:
        if not isinstance(record, dict):
            return record
        if "expand" in query:
            keep = {"_id", "id", *query["expand"]}
        elif listing:
            keep = set(FULL_FIELDS if _flag(query, "full") else DEFAULT_FIELDS) | {"_id"}
            keep |= {"cardData"} if _flag(query, "cardData") else set()
            keep |= {"config"} if _flag(query, "config") else set()
        else:
            keep = set(record)
        return {k: v for k, v in record.items() if k in keep}

    def model(self, model_id: str, query) -> tuple[int, dict, bytes]:
        if model_id in self.denied:
            code = self.denied[model_id]
            return code, {"X-Error-Code": "GatedRepo" if code == 403 else "RepoNotFound"}, b'{"error": "denied"}'
        if model_id not in self.by_id:
            return 404, {"X-Error-Code": "RepoNotFound"}, b'{"error": "Repository not found"}'
        return 200, {}, json.dumps(self.shape(self.by_id[model_id], query, listing=False)).encode()

    def resolve(self, path: str) -> tuple[int, dict, bytes]:
        if path.startswith("/datasets/"):
            repo, rest = path[len("/datasets/"):].split("/resolve/", 1)
            body = self.files.get((repo, rest.split("/", 1)[1]))
        else:
            repo, rest = path[1:].split("/resolve/", 1)
            if repo in self.denied:
                return 403, {"X-Error-Code": "GatedRepo"}, b'{"error": "gated"}'
            card = self.cards.get(repo) if rest.split("/", 1)[1] == "README.md" else None
            body = card.encode() if card else None
            if repo not in self.by_id:
                return 404, {"X-Error-Code": "RepoNotFound"}, b'{"error": "Repository not found"}'
        if body is None:
            return 404, {"X-Error-Code": "EntryNotFound"}, b'{"error": "Entry not found"}'
        revision = rest.split("/", 1)[0]
        return 200, {"X-Repo-Commit": hashlib.sha1(revision.encode()).hexdigest(),
                     "ETag": f'"{hashlib.sha1(body).hexdigest()}"'}, body


WHOAMI = {"type": "user", "id": "whoami-secret-id", "name": "someone", "email": "someone@example.org",
          "auth": {"accessToken": {"displayName": "secret-token-name", "role": "write"}}}


def _object_id(model_id: str) -> str:
    return hashlib.md5(model_id.encode()).hexdigest()[:24]


def _with_model_tree(records: list) -> list:
    """Copies of the records with ``childrenModelCount`` and ``baseModels`` as the Hub
    derives them from the ``base_model`` tags (fields a record already has are kept)."""
    children: dict[str, int] = {}
    for r in records:
        for tag in set(r.get("tags") or () if isinstance(r, dict) else ()):
            if tag.startswith("base_model:") and tag.count(":") == 1:
                children[tag[len("base_model:"):]] = children.get(tag[len("base_model:"):], 0) + 1
    out = []
    for r in records:
        if not isinstance(r, dict) or not isinstance(r.get("id"), str):
            out.append(r)
            continue
        pairs = [t.split(":", 2)[1:] for t in r.get("tags") or () if t.startswith("base_model:") and t.count(":") >= 2]
        merged = [p for rel, p in pairs if rel == "merge"]
        tree = ({"models": [{"_id": _object_id(p), "id": p} for p in merged], "relation": "merge"} if merged else
                {"models": [{"_id": _object_id(pairs[0][1]), "id": pairs[0][1]}], "relation": pairs[0][0]} if pairs
                else None)
        out.append({"childrenModelCount": children.get(r["id"], 0), **({"baseModels": tree} if tree else {}), **r})
    return out


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return query.get(name, ["false"])[0].lower() == "true"


def _handler(hub: HubServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True      # else headers and body wait for a delayed ACK (40 ms)

        def log_message(self, *args) -> None:
            pass

        def do_HEAD(self) -> None:
            self.answer(head=True)

        def do_GET(self) -> None:
            self.answer(head=False)

        def answer(self, head: bool) -> None:
            url = urlsplit(self.path)
            path, query = url.path, parse_qs(url.query)
            with hub.lock:
                hub.requests.append((self.command, unquote(self.path), self.headers.get("Authorization")))
            fault = hub.fault(unquote(self.path))
            if fault == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault == "slow":
                time.sleep(hub.slow_seconds)
            if fault == "429":
                status, headers, body = 429, {"Retry-After": "0"}, b'{"error": "too many requests"}'
            elif fault == "ratelimit":
                status, headers, body = 429, {"RateLimit": '"api";r=0;t=0',
                                              "RateLimit-Policy": '"fixed window";"api";q=500;w=300'}, b"{}"
            elif fault == "500":
                status, headers, body = 500, {}, b'{"error": "internal error"}'
            elif path == "/api/models":
                time.sleep(hub.delay)
                status, headers, body = hub.listing(query)
            elif path.startswith("/api/models/"):
                status, headers, body = hub.model(unquote(path[len("/api/models/"):]), query)
            elif path == "/api/whoami-v2":
                status, headers, body = 200, {}, json.dumps(WHOAMI).encode()
            elif "/resolve/" in path:
                status, headers, body = hub.resolve(path)
            else:
                status, headers, body = 404, {}, b'{"error": "not found"}'
            if fault == "offsite":
                headers["Link"] = f'<{hub.url}/api/whoami-v2?cursor=MQ>; rel="next"'
            if fault == "truncated":
                body = body[:len(body) // 2]
            if fault == "deep":         # one record nested deeper than any JSON parser recurses
                body = body[:-1] + b", " + b"[" * 100_000 + b"]" * 100_000 + b"]"
            pad = hub.huge_bytes if fault == "huge" else 0
            try:
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body) + pad))
                self.end_headers()
                if not head:
                    self.wfile.write(body[:len(body) // 2] if fault == "cut" else body)
                    for at in range(0, pad, 1 << 16):
                        self.wfile.write(b" " * min(1 << 16, pad - at))
                if fault == "cut":
                    self.close_connection = True
            except OSError:             # the client gave up (a slow answer, or one it refused)
                self.close_connection = True

    return Handler

