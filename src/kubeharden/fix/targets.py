"""Where the fix of a finding is written: the extension point for Helm charts and Kustomize overlays.

Today every finding comes from a manifest file (``Finding.source == "file"``) and its fix edits that
file at the object's field. Rendered inputs (stdin, snapshots, live clusters) have no file to edit.

Helm and Kustomize: when the sources of those inputs exist, their provenance will say which values
file and values path drive a field, or which template or patch line wrote it. :func:`edit_target` is
the one place to read it: a finding whose provenance names a values file and path gets a proposed
``values.yaml`` change, otherwise the template or patch line. ``model.objects.Provenance`` carries no
such fields yet, so this returns the manifest file or None.
"""

from __future__ import annotations

from kubeharden.model.findings import Finding

#: file name endings the fix can edit
EDITABLE = (".yaml", ".yml", ".json")


def edit_target(finding: Finding) -> str | None:
    """The file to edit for ``finding``, or None when its input has no file to edit."""
    if finding.source != "file" or not finding.file or not finding.file.endswith(EDITABLE):
        return None
    return finding.file
