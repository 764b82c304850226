"""The one evaluation path: objects in, findings out.

Manifests, live clusters and admission requests all hand :class:`Evaluator` the same
:class:`~kubeharden.model.objects.K8sObject` values. Per-object controls run as each
object streams past; controls that need other objects (``inventory`` scope) run once
at the end over the compact :class:`~kubeharden.model.inventory.Inventory`. Suppressions
(annotations, then configured exceptions) are applied here, once, for every source.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
from dataclasses import replace
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from kubeharden.analysis.rbac import namespace_hint
from kubeharden.catalogue.loader import load_catalogue, profile_includes
from kubeharden.checks.context import Context
from kubeharden.checks.drawings import scope_analyses
from kubeharden.checks.fix_evidence import weigh as weigh_fix
from kubeharden.checks.pss import evaluate_once as evaluate_pss
from kubeharden.checks.registry import Runner, control_runner
from kubeharden.checks.rules import unseen_files
from kubeharden.sources.snapshot import is_snapshot_header
from kubeharden.config import Config, ConfigError, has_setting, setting_value
from kubeharden.model.apitypes import type_problems
from kubeharden.model.controls import INPUTS, NOTHING_TO_JUDGE, Control, Violation
from kubeharden.model.factsobjects import COMPONENT_UNSEEN
from kubeharden.model.factsobjects import FACTS_KIND, facts_unit
from kubeharden.model.findings import UNLISTED, Finding, Fix, Problem, Severity
from kubeharden.model.inventory import INDEXED_KINDS, Inventory
from kubeharden.model.objects import K8sObject
from kubeharden.model.pods import POD_TEMPLATE_PATHS, PodView, may_carry_pod, pod_view, windows_refuses
from kubeharden.model.results import PssEntry, ScanResult
from kubeharden.model.staticpods import FactsUnit, locate

SUPPRESS_PREFIX = "kubeharden.io/suppress."
POD_KINDS = frozenset(POD_TEMPLATE_PATHS)
#: Control scopes that judge one unit at a time: what they find on a listed object holds whatever else is missing.
PER_OBJECT_SCOPES = frozenset({"container", "pod", "object"})
#: The Problem kind of the note that a failing control ran on incomplete input.
INCOMPLETE = "incomplete"
#: Inputs whose control-plane static Pods (a manifest, a live cluster's mirror Pods) facts controls judge too.
STATIC_POD_INPUTS = frozenset({"manifest", "cluster"})


def reads_node_files(control: Control) -> bool:
    """Whether a facts control's rule reads ``files`` (owners and modes), which only a node's own files show."""
    def paths(rule: object) -> list[str]:
        if isinstance(rule, list):
            return [p for part in rule for p in paths(part)]
        if not isinstance(rule, dict):
            return []
        found = [str(v) for k, v in rule.items() if k in ("path", "items") and isinstance(v, str)]
        found += [str(p) for p in (rule.get("paths") or []) if isinstance(rule.get("paths"), list)]
        for key in ("when", "unless"):
            found += paths(rule.get(key))
        return found
    return any(p == "files" or p.startswith(("files.", "files[")) for p in paths(control.rule))


def _nothing_judged(violations: list[Violation]) -> bool:
    """The check said its unit holds nothing it can judge (NOTHING_TO_JUDGE): the unit is not counted."""
    return len(violations) == 1 and violations[0] is NOTHING_TO_JUDGE


class Evaluator:
    """Runs the active controls of the catalogue over a stream of objects.

    ``only``: exact control IDs to run (the command line resolves case and globs,
    :mod:`kubeharden.catalogue.selection`). Raises ConfigError when a control selected explicitly
    needs a setting that is not given. ``input_kind`` (catalogue INPUTS) is what the objects
    come from: a selected control whose ``inputs:`` lack it is not run and is reported as
    not assessable (ScanResult.not_assessable), never as a pass.
    """

    def __init__(self, config: Config | None = None, *, today: dt.date | None = None,
                 only: Iterable[str] | None = None, input_kind: str = "manifest") -> None:
        if input_kind not in INPUTS:
            raise ValueError(f"input kind {input_kind!r} is not one of {', '.join(INPUTS)}")
        self.config = config or Config()
        self.today = today or dt.date.today()
        self.ctx = Context(self.config, today=self.today)
        selected = set(only) if only else None
        active = [c for c in load_catalogue() if self._active(c, selected)]
        self.controls = [c for c in active if input_kind in c.inputs]
        #: facts controls for node files that also judge control-plane static Pods of this input (their
        #: flags), staying not assessable unless such a Pod turns up; those reading file modes never do
        self._static_pod_controls = [c for c in active if c.scope == "facts" and input_kind in STATIC_POD_INPUTS
                                     and input_kind not in c.inputs and not reads_node_files(c)]
        self._check_requirements(selected)
        self.result = ScanResult(controls=self.controls, profile=self.config.profile,
                                 config_file=self.config.path, input_kind=input_kind,
                                 not_assessable=[c for c in active if input_kind not in c.inputs])
        self.inventory = Inventory()
        #: what a duplicate-object warning suggests (the scan of all inputs as one cluster: --scope path)
        self.duplicate_hint = SCOPE_HINT
        self._duplicates = DuplicateIndex(SCOPE_HINT)
        self._by_scope: dict[str, list[tuple[Control, Runner]]] = {s: [] for s in
                                                                   ("container", "pod", "object", "inventory",
                                                                    "facts")}
        for control in [*self.controls, *self._static_pod_controls]:
            self._by_scope[control.scope].append((control, self._runner(control)))
        self._object_kinds = {k for c, _ in self._by_scope["object"] for k in c.kinds if k != "*"}
        self._index_object_controls()
        #: An admission review runs no cross-object control (their ``inputs:`` lack admission), so nothing
        #: reads an inventory there: the webhook does not build one for every request.
        self._keeps_inventory = input_kind != "admission" or bool(self._by_scope["inventory"])
        #: control ID -> the kinds the cluster refused that it needs (it runs on incomplete input)
        self._incomplete: dict[str, set[str]] = {}
        #: control ID -> files of the roles it judges that components name but the node source could not see
        self._unseen: dict[str, list[str]] = {}
        #: components a node source could not see (COMPONENT_UNSEEN), with why
        self._unseen_components: dict[str, str] = {}
        #: Keep drawings of each scope's RBAC paths and reachability in ``result.analyses`` (the HTML report).
        self.keep_analyses = False

    def fresh(self) -> Evaluator:
        """A new evaluator sharing this one's settings and compiled controls but none of its state.

        For many small independent inputs (one admission request each): compiling the controls
        costs more than judging one object. The compiled runners are pure; everything a run
        writes (the per-scan context, result, inventory, duplicate index) is new.
        """
        new = copy.copy(self)
        new.ctx = Context(self.config)
        new.result = ScanResult(controls=self.controls, profile=self.config.profile, config_file=self.config.path,
                                input_kind=self.result.input_kind, not_assessable=list(self.result.not_assessable))
        new.inventory = Inventory()
        new.duplicate_hint = SCOPE_HINT
        new._duplicates = DuplicateIndex(SCOPE_HINT)
        new._incomplete = {}
        new._unseen = {}
        new._unseen_components = {}
        return new

    # -- set-up -------------------------------------------------------------------------

    def _active(self, control: Control, only: set[str] | None) -> bool:
        if only is not None:
            return control.id in only
        if control.id in self.config.disabled:
            return False
        if control.id in self.config.enabled:
            return True
        if control.requires_config and not has_setting(self.config, control.requires_config):
            return False  # nothing to compare with (e.g. KH-IMG-003 needs `registries:`)
        switch = setting_value(self.config, control.enabled_by_config) if control.enabled_by_config else None
        if switch is not None:
            return bool(switch)  # e.g. require_digest turns KH-IMG-002 on or off whatever the profile
        return profile_includes(self.config.profile, control)

    def _check_requirements(self, only: set[str] | None) -> None:
        """A control selected explicitly (``only``, or ``controls.enable``) must be able to run.

        Raises ConfigError naming the setting it needs, rather than listing it as run while it
        could never fire (KH-IMG-003 without ``registries:`` has nothing to compare with).
        """
        for control in self.controls:
            if control.requires_config and not has_setting(self.config, control.requires_config):
                how = "with --control" if only is not None else "by controls.enable"
                where = self.config.path or "no configuration file is in effect"
                raise ConfigError(f"{control.id} is selected {how} but needs the setting "
                                  f"`{control.requires_config}:` in .kubeharden.yaml ({where}): {control.config_note}")

    def _runner(self, control: Control) -> Runner:
        return control_runner(control)

    def _index_object_controls(self) -> None:
        """The object-scope controls by the kind they judge, in catalogue order (``_objects_by_kind``; those
        for every kind alone in ``_objects_of_any_kind``), so an object meets only its own. Built anew (never
        changed in place) whenever ``_by_scope`` changes: fresh copies share it."""
        runners = self._by_scope["object"]
        self._objects_of_any_kind = [(c, run) for c, run in runners if not c.kinds or "*" in c.kinds]
        self._objects_by_kind = {kind: [(c, run) for c, run in runners
                                        if not c.kinds or "*" in c.kinds or kind in c.kinds]
                                 for kind in {k for c, _ in runners for k in c.kinds if k != "*"}}

    def needs_full_object(self, kind: str) -> bool:
        """Whether any active check reads more than the metadata of objects of ``kind``.

        Sources load other kinds shallowly (identity and metadata only), which makes large
        CustomResourceDefinitions nearly free to scan. Custom resources are read whole: they
        may carry a pod template (see :func:`kubeharden.model.pods.pod_view`).
        """
        if may_carry_pod(kind) or kind in INDEXED_KINDS or kind.endswith("List") or kind == FACTS_KIND:
            return True
        return kind in self._object_kinds

    # -- the stream ---------------------------------------------------------------------

    def run(self, items: Iterable[K8sObject | Problem]) -> Iterator[Finding]:
        """Evaluate every object as one cluster; problems are collected in ``self.result``."""
        self.duplicate_hint = SCOPE_HINT
        self._duplicates = DuplicateIndex(SCOPE_HINT)
        yield from self._consume(items)
        yield from self.finish()

    def run_scopes(self, scopes: Iterable[Iterable[K8sObject | Problem]]) -> Iterator[Finding]:
        """Evaluate several independent inputs (``--scope path``) into one result.

        Cross-object controls (ServiceAccounts, NetworkPolicies, RBAC) see one scope at a
        time, as if each were applied to its own cluster.
        """
        self.begin_scopes()
        for items in scopes:
            yield from self._consume(items)
            yield from self.close_scope()
        yield from self.finish()

    def begin_scopes(self) -> None:
        """Start a run of independent scopes (see :meth:`run_scopes`)."""
        self.duplicate_hint = ""
        self._duplicates = DuplicateIndex()

    def run_scopes_one(self, items: Iterable[K8sObject | Problem]) -> Iterator[Finding]:
        """One scope of :meth:`run_scopes`, for callers that need to tell the scopes' findings apart
        (``--values-matrix``), after :meth:`begin_scopes`; :meth:`finish` ends the run."""
        yield from self._consume(items)
        yield from self.close_scope()

    def _consume(self, items: Iterable[K8sObject | Problem]) -> Iterator[Finding]:
        for item in items:
            if isinstance(item, Problem):
                self.take_problem(item)
                continue
            yield from self.evaluate_object(item)

    def take_problem(self, problem: Problem) -> None:
        """Record a problem of the input; a kind a cluster would not list (``unlisted``) makes every
        control that needs that kind not assessable, never a pass.

        A control that judges one object (or pod, or container) at a time keeps running on what was
        listed: a failure it finds there is real and stays a failure (with a note that the input was
        incomplete); only if it finds none does it become not assessable (:meth:`finish`). A
        cross-object control, whose verdict rests on the whole set, stops at once.
        """
        self.result.problems.append(problem)
        if problem.level == "error":
            self.inventory.input_errors += 1  # what was not read cannot be evidence of absence (fix_evidence)
        if problem.kind == COMPONENT_UNSEEN and problem.resource is not None:
            self._unseen_components[problem.resource.name.split("@", 1)[0]] = problem.message
            return
        if problem.kind != UNLISTED or problem.resource is None:
            return
        kind = problem.resource.kind
        self.inventory.unlisted.add(kind)
        unable = [c for c in self.controls if c.needs_kind(kind, POD_KINDS)]
        if not unable:
            return
        for c in unable:
            self._incomplete.setdefault(c.id, set()).add(kind)
        stop = [c for c in unable if c.scope not in PER_OBJECT_SCOPES]
        self.controls = [c for c in self.controls if c not in stop]
        self.result.controls = self.controls
        self.result.not_assessable.extend(c for c in stop if c not in self.result.not_assessable)
        for scope, runners in self._by_scope.items():
            self._by_scope[scope] = [(c, run) for c, run in runners if c not in stop]
        self._index_object_controls()

    def _settle_facts(self) -> None:
        """Facts controls outside a node scan: those that judged a static Pod count (pass or fail); the
        others, which saw no component they judge, are not assessable from this input, never a pass."""
        if self.result.input_kind == "node":
            return  # a component the node does not run: the control is not applicable there
        evaluated = self.result.tally.evaluated
        judged = [c for c in self._static_pod_controls if evaluated.get(c.id, 0)]
        idle = [c for c in self.controls if c.scope == "facts" and not evaluated.get(c.id, 0)]
        self.controls = [c for c in self.controls if c not in idle] + [c for c in judged if c not in self.controls]
        self.result.not_assessable = [c for c in self.result.not_assessable if c not in judged]
        self.result.not_assessable.extend(c for c in idle if c not in self.result.not_assessable)
        self.result.controls = self.controls
        self._static_pod_controls = []

    def _not_assessable(self, control: Control) -> None:
        """Move ``control`` from the judged controls to the not-assessable ones (callers then set
        ``result.controls``)."""
        self.controls = [c for c in self.controls if c is not control]
        if control not in self.result.not_assessable:
            self.result.not_assessable.append(control)

    def _settle_incomplete(self) -> None:
        """Controls that ran on incomplete input: one that found a failure keeps it (with a note),
        one that found nothing is not assessable."""
        failed = self.result.tally.failed
        for control in [c for c in self.controls if c.id in self._incomplete]:
            kinds = ", ".join(sorted(self._incomplete[control.id]))
            if failed.get(control.id, 0) or self.result.suppressed_by_control.get(control.id, 0):
                self.result.problems.append(Problem(
                    "note", INCOMPLETE, f"{control.id}: its failures are those found on the objects listed; "
                    f"{kinds} could not be listed, so the input was incomplete and there may be more"))
                continue
            self._not_assessable(control)
        self.result.controls = self.controls
        self._incomplete.clear()

    def _settle_unseen(self) -> None:
        """File controls that could not see some of the files they judge (``exists: False``: not in the
        node tree, not mounted in the scanner's Pod): one that found a failure keeps it (with a note),
        one that found none is not assessable, never a pass."""
        failed = self.result.tally.failed
        for control in [c for c in self.controls if c.id in self._unseen]:
            files = self._unseen[control.id]
            shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
            if failed.get(control.id, 0) or self.result.suppressed_by_control.get(control.id, 0):
                self.result.problems.append(Problem(
                    "note", INCOMPLETE, f"{control.id}: files it judges could not be seen on the node ({shown}); "
                    "its failures are those of the files that could"))
                continue
            self.result.problems.append(Problem(
                "note", INCOMPLETE, f"{control.id}: not assessable: files it judges could not be seen on the node "
                f"({shown}); not in the node tree or not mounted"))
            self._not_assessable(control)
        self.result.controls = self.controls
        self._unseen.clear()
        self._settle_unseen_components()

    def _settle_unseen_components(self) -> None:
        """Facts controls of a component the node source could not see (or whose settings it could not read):
        not assessable when they found no failure, never a pass and never "not applicable"."""
        if not self._unseen_components:
            return
        failed = self.result.tally.failed
        for control in [c for c in self.controls if c.scope == "facts" and c.kinds
                        and set(c.kinds) & set(self._unseen_components)]:
            if failed.get(control.id, 0) or self.result.suppressed_by_control.get(control.id, 0):
                continue
            self._not_assessable(control)
        self.result.controls = self.controls
        self._unseen_components.clear()

    def evaluate_object(self, obj: K8sObject) -> Iterator[Finding]:
        if not is_snapshot_header(obj.raw):  # a snapshot's header describes the input, it is no object of it
            self.result.kinds[obj.kind] += 1
        duplicate = self._duplicates.add(obj)
        if duplicate is not None:
            self.result.problems.append(duplicate)
        tally = self.result.tally
        annotations = _reasons(obj.metadata.get("annotations"))
        self._check_suppression_annotations(obj, obj.metadata.get("annotations"))
        invalid = self._report_invalid(obj)
        pod = pod_view(obj)
        if pod is not None:
            typed = invalid
            for p in pod.problems:
                if p.level == "error" and typed:
                    continue  # the type check has said it, with the field's path
                invalid |= p.level == "error"
                self.result.problems.append(Problem(p.level, p.kind, p.message, file=obj.origin.file, line=p.line,
                                                    resource=obj.ref))
        # The API server refuses an invalid object: it takes no part in cross-object analyses
        # (its NetworkPolicy isolates nothing, its role grants nothing), whatever it says.
        if not invalid and self._keeps_inventory:
            self.inventory.add_object(obj)
        if pod is not None and (pod.containers or pod.spec):
            yield from self._evaluate_pod(pod, annotations, invalid)
        for control, run in self._objects_by_kind.get(obj.kind, self._objects_of_any_kind):
            violations = self._violations(control, run, obj, obj)
            if not violations:  # passed: the common case
                if not invalid:
                    tally.add(control.id, False)
                continue
            if _nothing_judged(violations):
                continue
            found = False
            for v in violations:
                found |= (yield from self._emit(control, v, obj, annotations, None))
            if found or not invalid:
                tally.add(control.id, found)
        if self._by_scope["facts"] and not invalid:
            unit = facts_unit(obj)
            if unit is not None:
                yield from self._evaluate_facts(unit, obj, annotations)

    def _evaluate_facts(self, unit: FactsUnit, obj: K8sObject, annotations: dict[str, str]) -> Iterator[Finding]:
        """The facts controls over one component's facts (a node's, or a static Pod's flags); each finding
        points at the file and line where its value is set (``unit.where``), the static Pod's container named."""
        component = unit.facts.component
        for control, run in self._by_scope["facts"]:
            if control.kinds and component not in control.kinds:
                continue
            found = False
            violations = self._violations(control, run, unit.facts, obj)
            if _nothing_judged(violations):
                continue  # its rules do not concern this component: not counted, so not applicable
            for v in violations:
                if v is NOTHING_TO_JUDGE:
                    continue
                file, path = locate(unit.where, v.path or "")
                target = obj if file is None else K8sObject(obj.raw, obj.ref, replace(obj.origin, file=file))
                if (v.path or "").startswith("files["):  # a file's mode or owner is written on no line of it
                    v = v._replace(line=None)
                    target = K8sObject(obj.raw, obj.ref, replace(target.origin, line=None))
                found |= (yield from self._emit(control, v._replace(path=path or v.path, obj=None), target,
                                                annotations, unit.container))
            self.result.tally.add(control.id, found)
            unseen = unseen_files(control, unit.facts)
            if unseen:
                self._unseen.setdefault(control.id, []).extend(f"{path} ({component})" for path in unseen)

    def _report_invalid(self, obj: K8sObject) -> bool:
        """Report values the API server would refuse; True when the object is invalid.

        An invalid object never runs, so it never counts as passing a control (its
        failures still count) and its Pod Security level is ``invalid``.
        """
        problems = validity_problems(obj)
        self.result.problems.extend(problems)
        return any(p.level == "error" for p in problems)

    def _violations(self, control: Control, run: Runner, unit: Any, obj: K8sObject | None) -> list[Violation]:
        """What ``control`` finds in ``unit``; a check that fails on an input nobody foresaw
        becomes an error naming the control and the object, and the scan goes on."""
        try:
            return list(run(unit, self.ctx))
        except Exception as exc:
            self.result.errored.add(control.id)
            self._internal_error(f"{control.id} could not evaluate this input ({type(exc).__name__}: {exc}); "
                                 "its other checks ran", obj)
            return []

    def _internal_error(self, message: str, obj: K8sObject | None) -> None:
        self.result.problems.append(Problem(
            "error", "internal", message, file=obj.origin.file if obj else None,
            line=obj.origin.line if obj else None, resource=obj.ref if obj else None))

    def _evaluate_pod(self, pod: PodView, annotations: dict[str, str], invalid: bool = False) -> Iterator[Finding]:
        obj = pod.obj
        if pod.template_meta is not obj.metadata:
            self._check_suppression_annotations(obj, pod.template_meta.get("annotations"))
        annotations = {**annotations, **_reasons(pod.annotations_raw)}
        if not invalid and self._keeps_inventory:
            self.inventory.add_pod(pod)
        try:
            pss = evaluate_pss(pod, self.ctx)
            self.result.pss.append(PssEntry(obj.ref, obj.origin.file, obj.origin.line,
                                            "invalid" if invalid else pss.level,
                                            tuple(pss.baseline), tuple(pss.restricted)))
        except Exception as exc:
            self._internal_error(f"Pod Security Standards evaluation failed ({type(exc).__name__}: {exc})", obj)
        tally = self.result.tally
        lists: dict[str, str] = {}
        paths: dict[str, str] = {}
        for c in pod.containers:
            lists.setdefault(c.name, c.list_name)
            paths.setdefault(c.name, c.path)
        windows = pod.spec_path if pod.is_windows else None
        for control, run in self._by_scope["pod"]:
            violations = self._violations(control, run, pod, obj)
            if not violations:  # passed: the common case
                if not invalid:
                    tally.add(control.id, False)
                continue
            if _nothing_judged(violations):
                continue  # the pod is none the control concerns (KH-POD-002 on a Windows pod): not counted
            found = False
            for v in violations:
                found |= (yield from self._emit(control, v, obj, annotations, v.container, lists,
                                                pod.spec_path, paths, windows=windows))
            if found or not invalid:
                tally.add(control.id, found)
        container_controls = self._by_scope["container"]
        for c in pod.containers:
            for control, run in container_controls:
                violations = self._violations(control, run, c, obj)
                if not violations:  # passed: the common case
                    if not invalid:
                        tally.add(control.id, False)
                    continue
                if _nothing_judged(violations):
                    continue
                found = False
                for v in violations:
                    found |= (yield from self._emit(control, v, obj, annotations, c.name, {c.name: c.list_name},
                                                    c.path, unit=c, windows=windows))
                if found or not invalid:
                    tally.add(control.id, found)
        # Containers point back at their pod: unlink them so reference counting frees the view now
        # (the scan freezes survivors for the garbage collector; see gctune.freezing).
        pod.containers.clear()

    def close_scope(self) -> Iterator[Finding]:
        """Run the cross-object controls over the objects seen since the last scope, then forget them."""
        tally = self.result.tally
        for control, run in self._by_scope["inventory"]:
            failed_units: set[Any] = set()
            violations = self._violations(control, run, self.inventory, None)
            if _nothing_judged(violations):
                continue  # nothing the control could judge (KH-CLU-001 on a cluster without Nodes): not applicable
            for v in violations:
                if v is NOTHING_TO_JUDGE:
                    continue
                target = v.obj
                ok = yield from self._emit(control, v, target, getattr(target, "annotations", {}) or {},
                                           v.container, None, getattr(target, "spec_path", ""))
                if ok:
                    failed_units.add(id(target))
            units = len(self.inventory.of_kind(*control.kinds)) if control.kinds else len(self.inventory.pods)
            tally.evaluated[control.id] = tally.evaluated.get(control.id, 0) + max(units, len(failed_units))
            if failed_units:
                tally.failed[control.id] = tally.failed.get(control.id, 0) + len(failed_units)
        hint = namespace_hint(self.inventory)
        if hint is not None:
            self.result.problems.append(hint)
        if self.keep_analyses:  # before the memo is forgotten: drawn from the engines the controls built
            unlisted = frozenset(p.resource.kind for p in self.result.problems if p.kind == UNLISTED and p.resource)
            self.result.analyses.append(scope_analyses(self.inventory, self.ctx, unlisted))
        self.inventory = Inventory()
        self._duplicates = DuplicateIndex(self.duplicate_hint)
        self.ctx.scan.forget()  # the analyses of the closed scope's inventory

    def finish(self) -> Iterator[Finding]:
        """Close the last scope (if objects are left) and the exception bookkeeping."""
        if self.inventory.pods or self.inventory.objects:
            yield from self.close_scope()
        self.result.unused_exceptions = [e for e in self.config.exceptions
                                         if e.used == 0 and not e.expired(self.today)]
        self.result.expired_exceptions = [e for e in self.config.exceptions if e.expired(self.today)]
        self._settle_facts()
        self._settle_incomplete()
        self._settle_unseen()
        return
        yield  # pragma: no cover - makes this a generator

    # -- findings and suppressions --------------------------------------------------------

    def _emit(self, control: Control, v: Violation, obj: Any, annotations: dict[str, str],
              container: str | None, lists: dict[str, str] | None = None, unit_path: str = "",
              paths: dict[str, str] | None = None, unit: Any = None,
              windows: str | None = None) -> Generator[Finding, None, bool]:
        """Yield the finding for ``v``; return True when it counts as a failure.

        ``lists`` maps container names to their PodSpec list (containers, initContainers …),
        ``paths`` to their field path; ``unit_path`` is the path of what the control judged (the
        container, the pod spec, or "" for the object). A violation without a path of its own
        gets its container's path, else ``unit_path``. ``unit`` is what the control judged (the
        container view), from which a fix with an evidence rule is judged safe or not. On a Windows pod
        (``windows``: its pod spec's path) no fix that sets a field such a pod must leave unset is offered
        (model.pods.windows_refuses).
        """
        container = v.container or container
        if paths and container in paths:
            unit_path = paths[container]
        path = v.path if v.path is not None else unit_path
        fix = v.fix if isinstance(v.fix, Fix) else (
            control.fix.resolve(path, unit_path) if control.fix is not None and v.fix is not False else None)
        if fix is not None and v.fix is None and control.fix is not None and control.fix.evidence:
            fix = weigh_fix(control.fix.evidence, fix, unit)
        if (windows is not None and fix is not None and fix.op != "remove"
                and windows_refuses(windows, fix.path, fix.value)):
            fix = None
        severity = self.config.severity_overrides.get(control.id, v.severity or control.severity)
        line = v.line if v.line is not None else obj.origin.line
        origin = obj.origin.at(line, path)  # a rendered input's field: its template, values or patch line
        traced = origin.traced
        finding = Finding(
            control=control, severity=severity, resource=obj.ref, container=container,
            file=origin.file, line=origin.line if traced else line,
            message=v.message, remediation=v.remediation or control.remediation, source=origin.source,
            container_list=lists.get(container) if lists and container else None, path=path, fix=fix,
            trace=origin if traced else None,
        )
        # (without annotations or exceptions nothing can suppress it: most findings)
        suppression = v.suppression or (self._suppression(control.id, obj, annotations, container,
                                                          finding.container_list, slug=control.slug)
                                         if annotations or self.config.exceptions else None)
        if suppression is not None:
            finding.status = "suppressed"
            finding.suppression = suppression
            self.result.suppressed += 1
            self.result.suppressed_by_control[control.id] += 1
        else:
            self.result.findings_by_severity[severity.label] += 1
        yield finding
        return suppression is None

    def _check_suppression_annotations(self, obj: K8sObject, annotations: Any) -> None:
        """Warn about each suppression annotation without a reason: once, at the annotation's own line."""
        if not self.config.allow_annotation_suppressions or not isinstance(annotations, dict):
            return
        for key, value in annotations.items():
            if str(key).startswith(SUPPRESS_PREFIX) and not (isinstance(value, str) and value.strip()):
                what = "has no reason" if value is None or isinstance(value, str) else \
                    "has a value that is not text"
                self.result.problems.append(Problem(
                    "warning", "suppression", f"annotation {key} {what}, so it suppresses nothing; "
                    "write why the exception is acceptable as its value", file=obj.origin.file,
                    line=obj.line(annotations, key), resource=obj.ref))

    def _suppression(self, control_id: str, obj: Any, annotations: dict[str, str],
                     container: str | None, container_list: str | None = None, slug: str = "") -> dict[str, Any] | None:
        """How the finding is suppressed (annotation with a reason, then exception), or None.

        An annotation names the control by ID or slug (``kubeharden.io/suppress.privileged-container``),
        the container-specific one first. Annotations without a reason never suppress;
        :meth:`_check_suppression_annotations` reports them.
        """
        if self.config.allow_annotation_suppressions and annotations:
            names = (control_id, slug) if slug else (control_id,)
            keys = [f"{SUPPRESS_PREFIX}{name}" for name in names]
            if container:
                keys[:0] = [f"{SUPPRESS_PREFIX}{name}.{container}" for name in names]
            for key in keys:
                reason = annotations.get(key, "").strip()
                if reason:
                    return {"kind": "annotation", "annotation": key, "reason": reason}
        ref = obj.ref
        for rule in self.config.exceptions:
            if not rule.matches(control_id, ref.kind, ref.namespace, ref.name, container, container_list):
                continue
            if rule.expired(self.today):
                continue
            rule.used += 1
            return {"kind": "exception", "reason": rule.reason, "exception": rule.index,
                    "expires": rule.expires.isoformat() if rule.expires else None}
        return None


def severity_at_least(findings: Iterable[Finding], threshold: Severity) -> bool:
    return any(f.status == "fail" and f.severity >= threshold for f in findings)


def _reasons(annotations: Any) -> dict[str, str]:
    """The suppression annotations (``kubeharden.io/suppress.*``) whose value is text: only those can give a
    suppression its reason (``0``, ``false`` or a list are no reason, and the API server refuses them
    anyway); the others are left out, as no finding can read them."""
    if not isinstance(annotations, dict):
        return {}
    return {str(k): v for k, v in annotations.items() if isinstance(v, str) and str(k).startswith(SUPPRESS_PREFIX)}


SCOPE_HINT = ". If the paths hold independent apps or variants, scan them with --scope path"


class DuplicateIndex:
    """Objects seen in one scope by identity (API group, kind, namespace, name).

    The same object defined twice means one file overrides the other when both are
    applied; which one wins depends on the order, so both places are named.
    """

    def __init__(self, hint: str = "") -> None:
        self._seen: dict[tuple[str, str, str | None, str], Any] = {}
        self._hint = hint

    def add(self, obj: K8sObject) -> Problem | None:
        if not obj.metadata.get("name"):  # generateName objects are never the same object
            return None
        ref = obj.ref
        group = ref.api_version.rpartition("/")[0]
        first = self._seen.setdefault((group, ref.kind, ref.namespace, ref.name), obj.origin)
        if first is obj.origin:
            return None
        where = f"{first.file}:{first.line}" if first.file else "another input"
        if first.file and obj.origin.file and first.line == obj.origin.line and _same_file(first.file, obj.origin.file):
            # one place of the input reached twice (a Kustomize base built by several overlays, which may patch
            # it differently; one file given twice): its own kind, so stderr's cap never hides real conflicts
            return Problem("warning", "repeated-object",
                           f"{ref} is defined again by the same place of the input (a Kustomize base built by "
                           f"more than one overlay, or one file given twice); whichever is applied last "
                           f"wins{self._hint}", file=obj.origin.file, line=obj.origin.line, resource=ref)
        return Problem("warning", "duplicate-object",
                       f"{ref} is defined again (first at {where}); whichever is applied last wins{self._hint}",
                       file=obj.origin.file, line=obj.origin.line, resource=ref)


def _same_file(a: str, b: str) -> bool:
    """Whether the names ``a`` and ``b`` are one file (``x.yaml`` and ``k8s/../x.yaml``, a link and its target), as
    the file system says; names that are no files (``<stdin>``, a live object), or gone, by their text."""
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return os.path.normpath(a) == os.path.normpath(b)


def validity_problems(obj: K8sObject, refused: str = "") -> list[Problem]:
    """The values of ``obj`` the API server would refuse (errors, ``refused`` appended) and the
    fields it does not know (warnings), as report problems with file and line."""
    return [Problem(p.level, "invalid-object" if p.level == "error" else "unknown-field",
                    p.message + (refused if p.level == "error" else ""), file=obj.origin.file,
                    line=p.line or obj.origin.line, resource=obj.ref)
            for p in type_problems(obj.raw, obj.ref.api_version, obj.kind)]


def type_checked(items: Iterable[K8sObject | Problem]) -> Iterator[K8sObject | Problem]:
    """``items`` without the objects the API server would refuse, with a Problem for each refusal.

    For analyses and generators: an invalid object never exists in a cluster. Unknown
    fields are warnings and keep the object.
    """
    for item in items:
        if isinstance(item, Problem):
            yield item
            continue
        problems = validity_problems(item, refused="; left out of this analysis")
        yield from problems
        if not any(p.level == "error" for p in problems):
            yield item


def build_inventory(items: Iterable[K8sObject | Problem]) -> tuple[Inventory, list[Problem]]:
    """The inventory of a stream of objects without running any control.

    For analyses that answer questions (``rbac who-can``, ``netpol matrix``) rather than
    report findings; they see exactly what the controls see: objects the API server would
    refuse are reported and left out.
    """
    inventory = Inventory()
    problems: list[Problem] = []
    duplicates = DuplicateIndex()
    for item in type_checked(items):
        if isinstance(item, Problem):
            problems.append(item)
            continue
        duplicate = duplicates.add(item)
        if duplicate is not None:
            problems.append(duplicate)
        pod = pod_view(item)
        pod_errors = False
        if pod is not None:
            for p in pod.problems:
                pod_errors |= p.level == "error"
                problems.append(Problem(p.level, p.kind, p.message, file=item.origin.file, line=p.line,
                                        resource=item.ref))
        if pod_errors:
            continue
        inventory.add_object(item)
        if pod is not None and (pod.containers or pod.spec):
            inventory.add_pod(pod)
    hint = namespace_hint(inventory)
    if hint is not None:
        problems.append(hint)
    return inventory, problems
