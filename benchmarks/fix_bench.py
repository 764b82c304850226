"""``kubeharden fix`` on the real-world corpus: time, rounds, fidelity of the untouched parts, idempotence.

    PYTHONPATH=src python3 benchmarks/fix_bench.py [--corpus ../shared/corpus] [--keep]

Prints numbers; never part of the test run. It copies the corpus into a temporary folder and:

1. round-trips every YAML document through ruamel.yaml unchanged (load, dump in the file's
   indentation) and counts the documents that come back byte for byte: the share a fix can edit
   without touching anything else of the document (the other documents of a file are never rewritten);
2. runs ``kubeharden fix --unsafe`` over the copy (wall time, files and fixes);
3. runs it again and counts what the second run would change (must be 0: idempotence);
4. rescans the fixed copy and counts findings that still carry a fix (0 unless a fix failed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kubeharden.cli import main  # noqa: E402
from kubeharden.fix.yamlfile import ParseError, _dump_yaml, load  # noqa: E402


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
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
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
    code, err, seconds = run_fix([str(work), "--unsafe"])
    summary = [line for line in err.splitlines() if " fix(es) in " in line]
    print(f"fix --unsafe: exit {code}, {seconds:.1f} s, {summary[-1] if summary else '?'}")
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
