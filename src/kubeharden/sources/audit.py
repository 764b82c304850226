"""Kubernetes audit events (``audit.k8s.io/v1`` ``Event``) from log files, stdin or a growing file.

The log backend writes one JSON object per line; the webhook backend and ``kubectl get --raw``
exports produce ``EventList`` documents. Both are read here, plain or gzip (rotated logs are
often compressed), and several files are merged into one stream in time order, so a rotated
set of logs reads as one log. Events stay plain dicts: the detection engine reads them by
path, and building objects for 100,000 events a second would cost more than the rules.

A line that is not an audit event is reported (file and line) and skipped; the rest goes on.
"""

from __future__ import annotations

import gzip
import heapq
import io
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from kubeharden.model.findings import Problem
from kubeharden.sources.files import own_output_note, skipped_reason

Event = dict[str, Any]
ProblemSink = Callable[[Problem], None]

_GZIP_MAGIC = b"\x1f\x8b"
MAX_WHOLE_DOCUMENT_BYTES = 512 * 1024 * 1024
"""A pretty-printed EventList has to be parsed whole; refuse anything bigger than this."""

#: A pure function cache (minute text -> epoch seconds), bounded; no scan's state, safe to share.
_minute_cache: dict[str, float] = {}


def event_time(event: Event) -> float:
    """Seconds since the epoch of the event (``stageTimestamp``, else ``requestReceivedTimestamp``).

    Audit timestamps are RFC 3339 in UTC with microseconds. Parsing the date and minute once per
    distinct minute and the seconds as a float keeps this to a dict lookup per event. An event
    without a readable time sorts first (0.0) rather than being dropped.
    """
    ts = event.get("stageTimestamp") or event.get("requestReceivedTimestamp")
    if not isinstance(ts, str) or len(ts) < 17:
        return 0.0
    if ts[-1] == "Z" and len(ts) >= 20 and ts[16] == ":":
        minute = ts[:16]
        base = _minute_cache.get(minute)
        if base is None:
            try:
                base = datetime.fromisoformat(minute + ":00+00:00").timestamp()
            except ValueError:
                return 0.0
            if len(_minute_cache) > 100_000:
                _minute_cache.clear()
            _minute_cache[minute] = base
        try:
            return base + float(ts[17:-1])
        except ValueError:
            return 0.0
    try:
        return datetime.fromisoformat(ts).timestamp()
    except ValueError:
        return 0.0


def is_event(obj: Any) -> bool:
    return isinstance(obj, dict) and ("auditID" in obj or obj.get("kind") == "Event")


def events_of(doc: Any) -> list[Event] | None:
    """The events in one parsed JSON document (an Event or an EventList), or None if neither."""
    if isinstance(doc, dict):
        if doc.get("kind") == "EventList" or (isinstance(doc.get("items"), list) and "auditID" not in doc):
            items = doc.get("items")
            if not isinstance(items, list):
                return None
            return [e for e in items if isinstance(e, dict)]
        if is_event(doc):
            return [doc]
    return None


@dataclass(slots=True)
class AuditReadOptions:
    follow: bool = False
    poll_interval: float = 0.5
    #: Stop following after this many seconds without new data (None: forever). For tests and tools.
    idle_timeout: float | None = None
    #: Files never read, by (st_dev, st_ino), with the reason (the report this run writes).
    skip_files: dict[tuple[int, int], str] = field(default_factory=dict)


def _open_binary(path: str) -> IO[bytes]:
    if path == "-":
        raw: IO[bytes] = sys.stdin.buffer
    else:
        raw = open(path, "rb")
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    if head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def read_file_events(path: str, report: ProblemSink) -> Iterator[Event]:
    """Events of one file in file order; problems go to ``report``."""
    display = "<stdin>" if path == "-" else path
    try:
        fh = _open_binary(path)
    except OSError as exc:
        report(Problem("error", "read", f"cannot read: {exc.strerror or exc}", file=display))
        return
    with fh:
        try:
            yield from _parse_stream(fh, display, report)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            report(Problem("error", "read", f"cannot read: {exc}", file=display))


def _parse_stream(fh: IO[bytes], display: str, report: ProblemSink) -> Iterator[Event]:
    first = fh.readline()
    stripped = first.strip()
    if stripped[:1] in (b"{", b"["):
        try:
            doc = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            # Not one object per line: a pretty-printed document (an EventList, most likely) or a log
            # whose first line is damaged. Try the whole document, else read it as lines after all.
            data = first + fh.read(MAX_WHOLE_DOCUMENT_BYTES)
            try:
                whole = orjson.loads(data)
            except orjson.JSONDecodeError:
                yield from _parse_lines(io.BytesIO(data), display, report, 1)
                return
            for item in whole if isinstance(whole, list) else [whole]:
                yield from _document(item, display, 1, report)
            return
        yield from _document(doc, display, 1, report)
        yield from _parse_lines(fh, display, report, 2)
        return
    yield from _parse_lines(itertools.chain((first,), fh), display, report, 1)


GIVE_UP_AFTER = 50
"""A file whose first 50 lines are all unreadable is not an audit log: say so once and skip it."""


def _parse_lines(fh: Iterable[bytes], display: str, report: ProblemSink, start: int) -> Iterator[Event]:
    loads = orjson.loads
    good = bad = 0
    for lineno, line in enumerate(fh, start):
        if len(line) < 3 and not line.strip():
            continue
        try:
            doc = loads(line)
        except orjson.JSONDecodeError as exc:
            bad += 1
            if not good and bad >= GIVE_UP_AFTER:
                report(Problem("error", "parse", f"{bad} lines in a row are not JSON: not an audit log; "
                                                 "rest of the file skipped", file=display, line=lineno))
                return
            report(Problem("error", "parse", f"not JSON ({exc}); line skipped", file=display, line=lineno))
            continue
        good += 1
        if isinstance(doc, dict) and "auditID" in doc:
            yield doc
        else:
            yield from _document(doc, display, lineno, report)


def _document(doc: Any, display: str, lineno: int, report: ProblemSink) -> Iterator[Event]:
    found = events_of(doc)
    if found is None:
        report(Problem("error", "invalid-event", "not an audit.k8s.io Event or EventList; skipped",
                       file=display, line=lineno))
        return
    yield from found


def expand_paths(paths: Iterable[str], report: ProblemSink) -> list[str]:
    """Files named on the command line; a directory stands for the files in it (sorted)."""
    out: list[str] = []
    for raw in paths:
        if raw == "-":
            out.append(raw)
            continue
        p = Path(raw)
        if p.is_dir():
            out.extend(str(c) for c in sorted(p.iterdir()) if c.is_file() and not c.name.startswith("."))
        elif p.is_file():
            out.append(raw)
        else:
            report(Problem("error", "read", "no such file" if not p.exists() else "not a regular file", file=raw))
    return out


def read_events(paths: Iterable[str], report: ProblemSink,
                options: AuditReadOptions | None = None) -> Iterator[Event]:
    """All events of ``paths`` in time order (a heap merge of the files, each in its own order).

    With ``follow`` the files are tailed instead: what is there is read first, then new lines
    as they are written, across rotation and truncation.
    """
    options = options or AuditReadOptions()
    files = []
    for path in expand_paths(paths, report):
        reason = skipped_reason(path, options.skip_files)
        if reason:  # `audit scan logs/ --follow > logs/alerts.jsonl` would read its own alerts forever
            report(own_output_note(path, reason))
        else:
            files.append(path)
    if options.follow:
        yield from follow_files(files, report, options)
        return
    if len(files) == 1:
        yield from read_file_events(files[0], report)
        return
    streams = [((event_time(e), e) for e in read_file_events(f, report)) for f in files]
    for _, event in heapq.merge(*streams, key=lambda pair: pair[0]):
        yield event


def follow_files(files: list[str], report: ProblemSink, options: AuditReadOptions) -> Iterator[Event]:
    """Tail the files like ``tail -F``: reopen when the inode changes or the file shrinks."""
    tails = [_Tail(f, report) for f in files if f != "-"]
    if "-" in files:
        yield from read_file_events("-", report)
    idle_since = time.monotonic()
    while tails:
        got = False
        for tail in tails:
            for event in tail.poll():
                got = True
                yield event
        if got:
            idle_since = time.monotonic()
        elif options.idle_timeout is not None and time.monotonic() - idle_since >= options.idle_timeout:
            return
        else:
            time.sleep(options.poll_interval)


class _Tail:
    """One followed file: the open handle, its inode, and a partial last line."""

    def __init__(self, path: str, report: ProblemSink) -> None:
        self.path = path
        self.report = report
        self.fh: io.BufferedReader | None = None
        self.inode: int | None = None
        self.pending = b""
        self.lineno = 0
        self.missing_reported = False

    def _open(self) -> bool:
        try:
            fh = open(self.path, "rb")
        except OSError as exc:
            if not self.missing_reported:
                self.report(Problem("warning", "read", f"waiting for the file: {exc.strerror or exc}",
                                    file=self.path))
                self.missing_reported = True
            return False
        self.fh, self.inode, self.pending, self.lineno = fh, os.fstat(fh.fileno()).st_ino, b"", 0
        self.missing_reported = False
        return True

    def _rotated(self) -> bool:
        assert self.fh is not None
        try:
            st = os.stat(self.path)
        except OSError:
            return False  # gone for now; keep reading the old handle until a new file appears
        return st.st_ino != self.inode or st.st_size < self.fh.tell()

    def poll(self) -> Iterator[Event]:
        if self.fh is None and not self._open():
            return
        assert self.fh is not None
        yield from self._drain()
        if self._rotated():
            self.fh.close()
            self.fh = None
            if self._open():
                yield from self._drain()

    def _drain(self) -> Iterator[Event]:
        assert self.fh is not None
        chunk = self.fh.read()
        if not chunk:
            return
        data = self.pending + chunk
        lines = data.split(b"\n")
        self.pending = lines.pop()
        for line in lines:
            self.lineno += 1
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                self.report(Problem("error", "parse", f"not JSON ({exc}); line skipped",
                                    file=self.path, line=self.lineno))
                continue
            yield from _document(doc, self.path, self.lineno, self.report)
