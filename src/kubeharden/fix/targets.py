"""Where the fix of a finding is written: the extension point for Helm charts and Kustomize overlays.

Today every finding comes from a manifest file (``Finding.source == "file"``) and its fix edits that
file at the object's field. Rendered inputs (stdin, snapshots, live clusters) have no file to edit.

Helm charts and Kustomize overlays are not edited here: their findings carry a ``trace`` (the values
path and file, the patch, the template line), and :func:`kubeharden.fix.plan.proposal` turns it into
the change to make in the source, which ``kubeharden fix`` lists without applying.
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
