"""Controls: what is checked. One module per area of the guide.

Add a control by writing its catalogue entry in ``catalogue/<area>.yaml`` and, unless a
declarative ``rule:`` says it all (docs/rule-language.md), a function decorated with ``@check("<ID>")`` in the
module of that area. Modules listed here are imported when the catalogue is first used.
"""

CHECK_MODULES = (
    "kubeharden.checks.pods",
    "kubeharden.checks.images",
    "kubeharden.checks.resources",
    "kubeharden.checks.namespaces",
    "kubeharden.checks.secrets",
    "kubeharden.checks.pss",
    "kubeharden.checks.rbac",
    "kubeharden.checks.network",
    "kubeharden.checks.supply",
    "kubeharden.checks.vulnerabilities",
    "kubeharden.checks.admission",
    "kubeharden.checks.cluster",
    "kubeharden.checks.upgrades",
    "kubeharden.checks.etcd",
    "kubeharden.checks.encryption",
    "kubeharden.checks.kubeconfig",
    "kubeharden.checks.psa_config",
    # the audit Policy controls judge with audit detection's policy matching and rule pack
    "kubeharden.detect.policy_controls",
)
