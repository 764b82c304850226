"""``kubeharden fix`` on the real-world corpus: time, rounds, fidelity of the untouched parts, idempotence.

    PYTHONPATH=src python3 benchmarks/fix_bench.py [--corpus ../shared/corpus] [--keep]

Prints numbers; never part of the test run. It copies the corpus into a temporary folder and:

1. round-trips every YAML document through ruamel.yaml unchanged (load, dump in the file's
   indentation) and counts the documents that come back byte for byte; then adds one key to each
   document's root and counts the documents whose new text differs from the old by exactly that line,
   as the plain dump and as the dump merged with the original lines (``fix/keeplines.py``, what the
   fix writes): the share a fix can edit without touching anything else of the document (the other
   documents of a file are never rewritten);
2. runs ``kubeharden fix --unsafe`` over the copy (wall time, files and fixes);
3. runs it again and counts what the second run would change (must be 0: idempotence);
4. rescans the fixed copy and counts findings that still carry a fix (0 unless a fix failed).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kubeharden.cli import main  # noqa: E402
from kubeharden.fix.keeplines import keep_unchanged_lines  # noqa: E402
from kubeharden.fix.yamlfile import ParseError, _dump_yaml, _reads_as, load  # noqa: E402


def only_one_line_added(before: str, after: str) -> bool:
    diff = [x for x in difflib.ndiff(before.splitlines(), after.splitlines()) if x[:1] in "+-"]
    return len(diff) == 1 and diff[0].startswith("+ ")


def one_key_added(folder: Path) -> tuple[int, int, int]:
    """(mapping documents, those whose plain dump with one key added differs by that line only, the same
    for the dump merged with the original lines and read back as the edited data)."""
    docs = dumped = merged = 0
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        try:
            manifest = load(str(path), path.read_text(encoding="utf-8"))
        except (ParseError, UnicodeDecodeError):
            continue
        for seg in manifest.segments:
            if not isinstance(seg.data, dict):
                continue
            docs += 1
            seg.data["x-kubeharden-bench"] = True
            text = _dump_yaml(seg.data, seg.body)
            dumped += only_one_line_added(seg.body, text)
            keep = keep_unchanged_lines(seg.body, text)
            merged += _reads_as(keep, seg.data) and only_one_line_added(seg.body, keep)
    return docs, dumped, merged


def fidelity(folder: Path) -> tuple[int, int, int]:
    """(documents, documents that round-trip byte for byte, files that cannot be loaded for editing)."""
    docs = same = failed = 0
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
            manifest = load(str(path), text)
        except (ParseError, UnicodeDecodeError):
            failed += 1
            continue
        for seg in manifest.segments:
            if seg.data is None:
                continue
            docs += 1
            same += _dump_yaml(seg.data, seg.body) == seg.body
    return docs, same, failed


def run_fix(args: list[str]) -> tuple[int, str, float]:
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(err):  # --dry-run's summary is on stdout
        code = main(["fix", "--no-config", *args])
    return code, err.getvalue(), time.perf_counter() - start


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--keep", action="store_true", help="keep the fixed copy and print where it is")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kh-fix-bench-")) / "corpus"
    shutil.copytree(opts.corpus, work)
    docs, same, failed = fidelity(work)
    print(f"round trip unchanged: {same}/{docs} documents byte for byte ({100 * same / max(docs, 1):.1f}%), "
          f"{failed} files not loadable for editing")
    docs, dumped, merged = one_key_added(work)
    print(f"one key added: {dumped}/{docs} documents change by that line only as dumped "
          f"({100 * dumped / max(docs, 1):.1f}%), {merged}/{docs} as written ({100 * merged / max(docs, 1):.1f}%)")
    code, err, seconds = run_fix([str(work), "--unsafe"])
    summary = [line for line in err.splitlines() if " fix(es) in " in line]
    print(f"fix --unsafe: exit {code}, {seconds:.1f} s, {summary[-1] if summary else '?'}, "
          f"{err.count('lines beyond the fix are rewritten too')} documents rewritten beyond the fix")
    code, err, seconds = run_fix([str(work), "--unsafe", "--dry-run"])
    summary = [line for line in err.splitlines() if " fix(es) in " in line]
    print(f"second run (--dry-run): exit {code}, {seconds:.1f} s, {summary[-1] if summary else '?'}")
    stills = sum("still reported after its fix" in line for line in err.splitlines())
    print(f"fixes applied but still reported: {stills}")
    if opts.keep:
        print(f"fixed copy: {work}")
    else:
        shutil.rmtree(work.parent)


if __name__ == "__main__":
    main_bench()
