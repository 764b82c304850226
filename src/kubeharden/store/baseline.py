"""Baselines and report files: the findings a stored scan or a report written earlier holds.

A baseline is what ``scan --baseline`` subtracts (the usual way to adopt a scanner in an old
repository: only new findings count) and what ``kubeharden diff`` compares. It is a stored scan
(an ID, ``latest``, ``latest~N``) or a report file kubeharden wrote: the JSON report (every
finding's ``fingerprint``, docs/json-report.md) or SARIF (``partialFingerprints["kubeharden/v2"]``).
Failing and suppressed findings are read (a diff tells accepted from fixed); a baseline uses the failing ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from kubeharden.store.database import StoreError, open_store
from kubeharden.model.history import StoredFinding
from kubeharden.store.history import findings_of, resolve_scan

#: The SARIF partialFingerprints key of kubeharden's finding fingerprint (report/sarif.py writes it).
SARIF_FINGERPRINT_KEY = "kubeharden/v2"
#: Report files larger than this are refused (a baseline is a report, not a dump).
MAX_REPORT_BYTES = 512 * 1024 * 1024


def is_report(ref: str) -> bool:
    """Whether ``ref`` is a report kubeharden wrote (a JSON report or SARIF file), judged from its
    beginning; a manifest, a snapshot or anything unreadable is not."""
    path = Path(ref)
    if not path.is_file() or path.suffix.lower() not in (".json", ".sarif"):
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b'"schema_version"' in head and b'"findings"' in head or b'"runs"' in head and b'"$schema"' in head \
        or b'"runs"' in head and b'sarif' in head.lower()


def load_findings(ref: str, store_url: str | None = None) -> tuple[dict[str, StoredFinding], str]:
    """(failing findings by fingerprint, a label for messages) of a report file or a stored scan.

    Raises StoreError naming ``ref`` when the file is not a kubeharden JSON or SARIF report, or the
    store has no such scan.
    """
    if Path(ref).is_file():
        return read_report(Path(ref)), ref
    if not (ref.isdigit() or ref.startswith("latest")):
        raise StoreError(f"{ref!r} is neither a report file nor a stored scan (an ID, latest or latest~N)")
    engine = open_store(store_url)
    try:
        scan_id = resolve_scan(engine, ref)
        return findings_of(engine, scan_id, ("fail", "suppressed")), f"scan {scan_id}"
    finally:
        engine.dispose()


def read_report(path: Path) -> dict[str, StoredFinding]:
    """The failing findings of a kubeharden JSON or SARIF report, by fingerprint."""
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            raise StoreError(f"{path}: larger than {MAX_REPORT_BYTES // (1024 * 1024)} MiB; not a report")
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise StoreError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise StoreError(f"{path}: not a kubeharden JSON or SARIF report ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("findings"), list) and "schema_version" in data:
        return _from_json_report(data["findings"], path)
    if isinstance(data, dict) and isinstance(data.get("runs"), list):
        return _from_sarif(data["runs"], path)
    raise StoreError(f"{path}: not a kubeharden JSON or SARIF report (no findings or runs)")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _from_json_report(findings: list[Any], path: Path) -> dict[str, StoredFinding]:
    out: dict[str, StoredFinding] = {}
    for i, f in enumerate(findings):
        if not isinstance(f, dict) or not isinstance(f.get("fingerprint"), str):
            raise StoreError(f"{path}: findings[{i}] has no fingerprint (a report of kubeharden 0.1 with "
                             "JSON schema 1.2 or later is needed)")
        status = f.get("status", "fail")
        if status not in ("fail", "suppressed"):
            continue
        res: dict[str, Any] = f["resource"] if isinstance(f.get("resource"), dict) else {}
        line = f.get("line")
        out[f["fingerprint"]] = StoredFinding(
            f["fingerprint"], _text(f.get("control_id")), _text(f.get("severity")), status, _text(f.get("section")),
            _text(res.get("apiVersion")), _text(res.get("kind")), res.get("namespace") or None,
            _text(res.get("name")), f.get("container_list") or None, f.get("container") or None,
            _text(f.get("path")), f.get("file") or None, line if isinstance(line, int) else None,
            _text(f.get("message")))
    return out


def _from_sarif(runs: list[Any], path: Path) -> dict[str, StoredFinding]:
    out: dict[str, StoredFinding] = {}
    unsuppressed = 0
    for run in runs:
        for result in (run.get("results") or []) if isinstance(run, dict) else []:
            if not isinstance(result, dict):
                continue
            status = "suppressed" if result.get("suppressions") else "fail"
            unsuppressed += status == "fail"
            key = (result.get("partialFingerprints") or {}).get(SARIF_FINGERPRINT_KEY)
            if not isinstance(key, str):
                continue
            first = (result.get("locations") or [{}])[0]
            loc = (first.get("physicalLocation") if isinstance(first, dict) else None) or {}
            line = (loc.get("region") or {}).get("startLine")
            out[key] = StoredFinding(key, _text(result.get("ruleId")), _text(result.get("level")), status, "", "",
                                     "", None, "", None, None, "", (loc.get("artifactLocation") or {}).get("uri"),
                                     line if isinstance(line, int) else None,
                                     _text((result.get("message") or {}).get("text")))
    if unsuppressed and not out:
        raise StoreError(f"{path}: a SARIF file without kubeharden fingerprints ({SARIF_FINGERPRINT_KEY})")
    return out
