"""How a rendered input's provenance is said: one text for every reporter (table, junit, sarif messages).

A Helm finding names the ``.Values`` path behind the field and where it is set; a Kustomize
finding names the patch that set the field (docs/helm-kustomize.md).
"""

from __future__ import annotations

from kubeharden.model.objects import Provenance


def _at(file: str | None, line: int | None) -> str:
    if file is None:
        return ""
    return f"{file}:{line}" if line else file


def trace_text(trace: Provenance | None) -> str | None:
    """``value .Values.a.b (set at values.yaml:12); values set prod.yaml`` or ``patched at patch.yaml:7``;
    None for plain manifests."""
    if trace is None:
        return None
    parts = []
    if trace.values_path:
        where = _at(trace.values_file, trace.values_line)
        parts.append(f"value .Values.{trace.values_path} " + (f"(set at {where})" if where else
                                                               "(set in no values file: the template's default)"))
    if trace.patch_file:
        parts.append(f"patched at {_at(trace.patch_file, trace.patch_line)}")
    if trace.values_set:
        parts.append(f"values set {trace.values_set}")
    parts.append(f"rendered from {trace.input}")
    return "; ".join(parts)


def change_hint(trace: Provenance | None) -> str | None:
    """What to edit instead of the rendered manifest: the value, or the patch; None when the template itself."""
    if trace is None:
        return None
    if trace.values_path:
        where = _at(trace.values_file, trace.values_line)
        return f"change .Values.{trace.values_path}" + (f" ({where})" if where else " (add it to your values file)")
    if trace.patch_file:
        return f"change the patch at {_at(trace.patch_file, trace.patch_line)}"
    return None


def with_hint(text: str, trace: Provenance | None) -> str:
    """``text`` (a fix or a message) followed by the change hint, as its own sentence."""
    hint = change_hint(trace)
    if not hint:
        return text
    text = text.rstrip()
    stop = "" if not text or text.endswith((".", "!", "?", ":")) else "."
    return f"{text}{stop} In the source: {hint}."


def related(trace: Provenance | None) -> list[tuple[str, int | None, str]]:
    """Other places behind a finding: (file, line, what) for the values file and the patch."""
    if trace is None:
        return []
    out = []
    if trace.values_file and not trace.values_file.startswith("--"):  # --set has no file
        out.append((trace.values_file, trace.values_line, f".Values.{trace.values_path} is set here"))
    if trace.patch_file:
        out.append((trace.patch_file, trace.patch_line, "the patch that sets this field"))
    return out
