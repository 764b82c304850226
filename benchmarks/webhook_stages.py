"""Where one admission review's time goes, in CPU milliseconds, and what the garbage collector adds.

    PYTHONPATH=src python3 benchmarks/webhook_stages.py [--reviews 3000] [--profile strict]

CPU time (``time.thread_time``), not wall time, so other processes on a shared machine do not inflate it.

1. Stages of one review in-process, over the mix of ``webhook_bench.py`` (examples' pod-bearing objects,
   CREATE and UPDATE): decoding and validating the AdmissionReview (``parse_review``), a fresh evaluator per
   review (``Evaluator.fresh``), the controls (``Evaluator.run``), the verdict (``_judge``, with the JSON
   Patch when mutating) and encoding the answer (``orjson.dumps``). CREATE reviews are judged in full;
   UPDATEs of the same object are admitted without judging (Pod Security Admission's rule), so both are
   shown.
2. Python function calls per review (cProfile's count): a measure of the work that the machine's load does
   not change, to compare two versions on a shared machine.
3. The garbage collector over the same reviews as the server runs them (``gctune.tune_gc`` at start, then
   the webhook's own settings after warm-up, ``WebhookApp.tune_gc``): collections per generation and the
   longest one, in CPU milliseconds.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "benchmarks")]

from webhook_bench import reviews  # noqa: E402

STAGES = ("decode", "fresh evaluator", "controls", "verdict", "encode")


def stages(reviewer, bodies: list[bytes], rounds: int) -> dict[str, dict[str, list[float]]]:
    """CPU ms per stage, per operation (CREATE, UPDATE), over ``rounds`` reviews of ``bodies`` in turn."""
    from kubeharden.enforce.admission import _unchanged_update, parse_review
    from kubeharden.model.objects import K8sObject, Provenance, make_ref

    out: dict[str, dict[str, list[float]]] = {}
    clock = time.thread_time
    for i in range(rounds):
        body = bodies[i % len(bodies)]
        t0 = clock()
        request = parse_review(body)
        t1 = clock()
        op = request["operation"]
        times = out.setdefault(op, {s: [] for s in STAGES})
        obj = request["object"]
        if _unchanged_update(request):
            verdict_start = clock()
            verdict = reviewer.review(request)  # admitted unjudged: the whole review is the verdict
            t4 = clock()
            times["decode"].append((t1 - t0) * 1000)
            times["verdict"].append((t4 - verdict_start) * 1000)
        else:
            evaluator = reviewer._template.fresh()
            t2 = clock()
            item = K8sObject(obj, make_ref(obj, str(request.get("namespace") or "") or None),
                             Provenance(None, None, source="admission"))
            findings = list(evaluator.run([item]))
            t3 = clock()
            verdict = reviewer._judge(request["uid"], obj.get("kind", ""), obj, findings, request)
            t4 = clock()
            times["decode"].append((t1 - t0) * 1000)
            times["fresh evaluator"].append((t2 - t1) * 1000)
            times["controls"].append((t3 - t2) * 1000)
            times["verdict"].append((t4 - t3) * 1000)
        orjson.dumps(verdict.response())
        times["encode"].append((clock() - t4) * 1000)
    return out


def python_calls(reviewer, bodies: list[bytes], rounds: int = 200) -> float:
    """Mean number of Python function calls of one review of the mix (cProfile's count)."""
    import cProfile
    import pstats

    from kubeharden.enforce.admission import parse_review

    profile = cProfile.Profile()
    profile.enable()
    for i in range(rounds):
        orjson.dumps(reviewer.review(parse_review(bodies[i % len(bodies)])).response())
    profile.disable()
    return pstats.Stats(profile).total_calls / rounds


def gc_activity(reviewer, bodies: list[bytes], rounds: int) -> dict[int, list[float]]:
    """CPU ms of each collection per generation while ``rounds`` reviews run."""
    from kubeharden.enforce.admission import parse_review

    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.thread_time()
        else:
            pauses[info["generation"]].append((time.thread_time() - started[0]) * 1000)

    gc.callbacks.append(callback)
    try:
        for i in range(rounds):
            orjson.dumps(reviewer.review(parse_review(bodies[i % len(bodies)])).response())
    finally:
        gc.callbacks.remove(callback)
    return pauses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reviews", type=int, default=3000)
    ap.add_argument("--profile", default="strict")
    ap.add_argument("--mutate", action="store_true", help="review as the mutating webhook (JSON Patch of safe fixes)")
    args = ap.parse_args()
    from kubeharden.config import Config
    from kubeharden.enforce.admission import AdmissionSettings, Reviewer
    from kubeharden.enforce import webhook_app
    from kubeharden.gctune import tune_gc

    # (a tree from before the webhook froze its long-lived objects runs without it, for comparisons)
    tune_gc_after_warm_up = getattr(webhook_app, "tune_gc_after_warm_up", lambda: None)

    tune_gc()
    bodies = [b for b, _ in reviews()]
    reviewer = Reviewer(AdmissionSettings(config=Config(profile=args.profile), mutate=args.mutate))
    for body in bodies:  # warm-up, as the server does before it is ready
        from kubeharden.enforce.admission import parse_review
        reviewer.review(parse_review(body))
    tune_gc_after_warm_up()
    print(f"{len(bodies)} distinct reviews, profile {args.profile}{', mutating' if args.mutate else ''}; "
          f"{args.reviews} reviews; CPU ms per review (mean / p99)")
    for op, times in stages(reviewer, bodies, args.reviews).items():
        parts = []
        total = 0.0
        for stage in STAGES:
            values = sorted(times[stage])
            if not values:
                continue
            mean = statistics.fmean(values)
            total += mean
            parts.append(f"{stage} {mean:.3f}/{values[int(len(values) * 0.99)]:.3f}")
        print(f"  {op:<6} total {total:.3f}: " + ", ".join(parts))
    print(f"  Python function calls per review (deterministic, whatever the machine's load): "
          f"{python_calls(reviewer, bodies):.0f}")
    start = time.thread_time()
    pauses = gc_activity(reviewer, bodies, args.reviews)
    per_review = (time.thread_time() - start) / args.reviews * 1000
    print(f"whole reviews as served: {per_review:.3f} ms of CPU each (mean); gc thresholds {gc.get_threshold()}, "
          f"{gc.get_freeze_count()} objects frozen")
    for generation, values in pauses.items():
        if values:
            print(f"  gen{generation}: {len(values)} collections, longest {max(values):.2f} ms, "
                  f"total {sum(values):.1f} ms")
        else:
            print(f"  gen{generation}: no collection")


if __name__ == "__main__":
    main()
