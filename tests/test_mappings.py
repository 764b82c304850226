"""The catalogue's peer mappings against the table of peer sources (checks/peer_sources.yaml).

Every mapped peer ID must be in the table with the public file its definition was read from, and
the relation the catalogue states must be the table's; every table entry must be in the catalogue.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kubeharden.catalogue.loader import CatalogueError, _parse_control, load_catalogue
from kubeharden.catalogue.peers import load_peer_sources, not_mapped, peer_notes
from kubeharden.cli import main
from kubeharden.model.controls import MAPPING_KEYS, RELATIONS, UNREVIEWED

CONTROLS = load_catalogue()
TABLE = load_peer_sources()
ROOT = Path(__file__).resolve().parents[1]
REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def _catalogue_pairs() -> set[tuple[str, str, str, str]]:
    return {(c.id, key, peer_id, rel) for c in CONTROLS for key, pairs in c.relations for peer_id, rel in pairs}


def _table_pairs() -> set[tuple[str, str, str, str]]:
    return {(control, key, str(peer_id), rel) for key, peer in TABLE.items()
            for peer_id, entry in peer["ids"].items() for control, rel in entry["controls"].items()}


def test_every_mapping_states_equivalent_or_related():
    unreviewed = sorted((cid, key, pid) for cid, key, pid, rel in _catalogue_pairs() if rel not in RELATIONS)
    assert unreviewed == []


def test_catalogue_and_table_agree_both_ways():
    catalogue, table = _catalogue_pairs(), _table_pairs()
    assert sorted(catalogue - table) == [], "mapped in the catalogue, missing or different in peer_sources.yaml"
    assert sorted(table - catalogue) == [], "in peer_sources.yaml, missing or different in the catalogue"


def test_table_covers_every_mapping_key_and_nothing_else():
    assert set(TABLE) == set(MAPPING_KEYS)


@pytest.mark.parametrize("key", [k for k in MAPPING_KEYS if k != "mitre"])
def test_each_peer_id_cites_the_file_it_was_read_from(key):
    peer = TABLE[key]
    for peer_id, entry in peer["ids"].items():
        repository = entry.get("repository", peer.get("repository"))
        assert repository and REPO.match(repository), (key, peer_id)
        path = entry.get("path")
        assert path and not path.startswith("/") and "." in path.rsplit("/", 1)[-1], (key, peer_id)
        assert str(entry.get("checks", "")).strip(), (key, peer_id)
        assert set(entry["controls"].values()) <= set(RELATIONS), (key, peer_id)


def test_mitre_techniques_are_cited_by_their_attack_page_and_only_related():
    for technique, entry in TABLE["mitre"]["ids"].items():
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", str(technique))
        expected = "https://attack.mitre.org/techniques/" + str(technique).replace(".", "/") + "/"
        assert entry["url"] == expected
        assert set(entry["controls"].values()) == {"related"}


def test_kubeaudit_and_kubesec_are_mapped():
    keys = {key for c in CONTROLS for key, pairs in c.relations if pairs}
    assert {"kubeaudit", "kubesec"} <= keys


def test_corrections_of_issue_9():
    relations = {c.id: c.mapping_relations_dict() for c in CONTROLS}
    # namespace Pod Security Admission label checks belong to the namespace control, not to pod controls
    for cid in ("KH-POD-012", "KH-POD-014", "KH-POD-023"):
        assert not {"C-0200", "C-0201", "C-0202"} & set(relations[cid]["kubescape"]), cid
    assert set(relations["KH-NS-003"]["kubescape"]) >= {"C-0200", "C-0201", "C-0202"}
    # checkov's bind-on-bindings check grants nothing in Kubernetes: not mapped to escalate/bind
    assert "CKV_K8S_157" not in relations["KH-RBAC-006"]["checkov"]
    # trivy KSV01011 checks system:masters, not system:authenticated
    assert relations["KH-RBAC-015"]["trivy"] == {}
    # a true equivalence that was missing
    assert relations["KH-RBAC-016"]["checkov"] == {"CKV_K8S_42": "equivalent"}


def test_unmapped_peer_checks_stay_unmapped_and_are_explained():
    relations = {c.id: c.mapping_relations_dict() for c in CONTROLS}
    assert not_mapped()
    for entry in not_mapped():
        assert REPO.match(entry["repository"]) and entry["path"] and entry["wrong"].strip()
        assert str(entry["id"]) not in relations[entry["control"]][entry["peer"]]
        assert any(n.peer_id == str(entry["id"]) for n in peer_notes(entry["control"]))


def test_docs_show_relations_and_where_peers_are_wrong():
    text = (ROOT / "docs" / "controls.md").read_text()
    section = text.split("## KH-RBAC-006")[1].split("\n## ")[0]
    assert "| Peer | Equivalent | Related |" in section
    assert "CKV_K8S_157: not mapped" in section
    assert "C-0115: not mapped" in text.split("## KH-NET-010")[1].split("\n## ")[0]
    assert "pods/* grants no pods/exec" in text.split("## KH-RBAC-004")[1].split("\n## ")[0]


def test_json_catalogue_keeps_the_id_lists_and_adds_the_relations(capsys):
    assert main(["controls", "--format", "json"]) == 0
    data = {c["id"]: c for c in json.loads(capsys.readouterr().out)}
    pod4 = data["KH-POD-004"]
    assert set(pod4["mappings"]) == set(MAPPING_KEYS) == set(pod4["mapping_relations"])
    assert pod4["mappings"]["kubesec"] == ["Privileged"]
    assert pod4["mapping_relations"]["kubesec"] == {"Privileged": "equivalent"}
    for item in data.values():
        for key, ids in item["mappings"].items():
            assert list(item["mapping_relations"][key]) == ids


def _control(mappings):
    return {"id": "KH-T-1", "title": "t", "severity": "low", "nsa": ["NSA-POD-5"], "description": "d",
            "remediation": "r", "mappings": mappings, "slug": "test-entry", "since": "0.1.0"}


def test_parser_reads_relations_and_marks_bare_lists_unreviewed():
    c = _parse_control(_control({"checkov": {"equivalent": ["A"], "related": ["B"]}, "trivy": ["C"]}), "t.yaml")
    assert c.mapping_relations_dict()["checkov"] == {"A": "equivalent", "B": "related"}
    assert c.mapping_relations_dict()["trivy"] == {"C": UNREVIEWED}
    assert c.mappings_dict()["checkov"] == ["A", "B"]


@pytest.mark.parametrize("mappings, message", [
    ({"checkov": {"same": ["A"]}}, "relations are"),
    ({"checkov": {"equivalent": ["A"], "related": ["A"]}}, "listed twice"),
    ({"checkov": "A"}, "expected"),
    ({"sonar": ["A"]}, "unknown mapping keys"),
])
def test_parser_rejects_malformed_mappings(mappings, message):
    with pytest.raises(CatalogueError, match=message):
        _parse_control(_control(mappings), "t.yaml")
