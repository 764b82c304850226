"""Dockerfiles as input: found in folders, parsed per stage, judged at the line at fault.

Dockerfiles written here from the Dockerfile reference (https://docs.docker.com/reference/dockerfile/).
"""

from __future__ import annotations

import json
import textwrap

import pytest

from kubeharden.cli import main
from kubeharden.model.findings import Problem
from kubeharden.model.objects import K8sObject
from kubeharden.sources import dockerfile
from kubeharden.sources.files import ReadOptions
from kubeharden.sources.registry import read_inputs

PINNED = "registry.example.com/base/debian:12.8@sha256:" + "4c" * 32


def scan_json(capsys, *argv: str) -> dict:
    code = main(["scan", "--no-config", "-f", "json", "--fail-on", "none", *argv])
    out = capsys.readouterr().out
    assert code in (0, 1), out
    return json.loads(out)


def found(report: dict, control: str) -> list[tuple[str, int, str]]:
    return [(f["file"], f["line"], f["message"]) for f in report["findings"] if f["control_id"] == control]


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("name, claimed", [("Dockerfile", True), ("Containerfile", True), ("web.Dockerfile", True),
                                           ("dockerfile", True), ("api.containerfile", True),
                                           ("Dockerfile.yaml", False), ("deploy.yaml", False),
                                           ("Dockerfile-notes.txt", False)])
def test_claims_by_name(name, claimed):
    assert dockerfile.claims(f"some/dir/{name}") is claimed


def test_folders_yield_dockerfiles_beside_manifests(tmp_path, capsys):
    write(tmp_path / "svc" / "web" / "Dockerfile", f"FROM {PINNED}\nUSER root\n")
    write(tmp_path / "svc" / "api.Containerfile", f"FROM {PINNED}\nUSER 10001:10001\n")
    write(tmp_path / "svc" / "README.md", "FROM nothing\n")
    report = scan_json(capsys, "--control", "KH-IMG-005", str(tmp_path))
    assert found(report, "KH-IMG-005") == [(str(tmp_path / "svc" / "web" / "Dockerfile"), 2,
                                           "the image runs as root: the user is 'root', root (UID 0) (the final "
                                           "stage's USER)")]
    assert report["summary"]["kinds"] == {"Dockerfile": 2}


def test_parallel_scan_reads_dockerfiles_as_one_process_does(tmp_path, capsys):
    for n in range(6):
        write(tmp_path / f"s{n}" / "Dockerfile", f"FROM registry.example.com/base:{n}\nUSER {n}\n")
        write(tmp_path / f"s{n}" / "pad.yaml", "# " + "x" * 300_000 + "\n")
    one = scan_json(capsys, "--jobs", "1", str(tmp_path))
    two = scan_json(capsys, "--jobs", "2", str(tmp_path))
    assert one["findings"] == two["findings"]
    assert {f["control_id"] for f in one["findings"]} >= {"KH-IMG-005", "KH-IMG-006"}


def objects(tmp_path, text: str, name: str = "Dockerfile") -> list[K8sObject | Problem]:
    path = write(tmp_path / name, text) if isinstance(text, str) else None
    return list(read_inputs([str(path)], ReadOptions()))


def test_multi_stage_final_stage_decides_the_user(tmp_path, capsys):
    path = write(tmp_path / "Dockerfile", f"""\
        FROM {PINNED} AS build
        USER root
        RUN make
        FROM {PINNED} AS runtime
        USER 10001:10001
        FROM runtime
        COPY --from=build /out /app
        """)
    assert found(scan_json(capsys, "--control", "KH-IMG-005", str(path)), "KH-IMG-005") == []
    path.write_text(path.read_text().replace("USER 10001:10001", "USER 0"))
    assert [line for _, line, _ in found(scan_json(capsys, "--control", "KH-IMG-005", str(path)), "KH-IMG-005")] == [5]


def test_build_arguments_are_substituted_in_from_and_user(tmp_path, capsys):
    path = write(tmp_path / "Dockerfile", """\
        ARG BASE=registry.example.com/base/debian:latest
        FROM ${BASE}
        ARG APP_UID=0
        USER ${APP_UID}
        """)
    report = scan_json(capsys, "--control", "KH-IMG-005", "--control", "KH-IMG-006", str(path))
    assert "base image registry.example.com/base/debian:latest uses the :latest tag" in found(report, "KH-IMG-006")[0][2]
    assert "'0', root (UID 0)" in found(report, "KH-IMG-005")[0][2]


def test_unknown_build_argument_is_said_not_passed(tmp_path, capsys):
    path = write(tmp_path / "Dockerfile", "ARG TAG\nFROM registry.example.com/base:$TAG\nARG UID\nUSER $UID\n")
    report = scan_json(capsys, "--control", "KH-IMG-005", "--control", "KH-IMG-006", str(path))
    assert "only known at build time" in found(report, "KH-IMG-005")[0][2]
    assert "only known at build time" in found(report, "KH-IMG-006")[0][2]


@pytest.mark.parametrize("source, checksum, bad", [
    ("https://example.com/a.tgz", "", True),
    ("http://example.com/a.tgz", "sha256:" + "0" * 64, False),
    ("https://example.com/repo.git#v1.2", "", True),
    ("https://example.com/repo.git#" + "a" * 40, "", False),
    ("git@example.com:team/repo.git", "", True),
    ("./local/dir", "", False),
])
def test_remote_sources(source, checksum, bad):
    from kubeharden.checks.supply import remote_source_problem

    assert (remote_source_problem(source, checksum) is not None) is bad


def test_add_json_form_and_line_of_continued_instruction(tmp_path, capsys):
    path = write(tmp_path / "Dockerfile", f"""\
        FROM {PINNED}
        RUN apt-get update && \\
            apt-get install -y curl
        ADD ["https://example.com/tool.tgz", "/opt/"]
        USER 10001
        """)
    assert [line for _, line, _ in found(scan_json(capsys, "--control", "KH-IMG-008", str(path)), "KH-IMG-008")] == [4]


def test_credentials_in_env_forms_and_harmless_values(tmp_path, capsys):
    path = write(tmp_path / "Dockerfile", f"""\
        FROM {PINNED}
        ENV DB_PASSWORD Zq8vR2mXw4pL9tKs
        ENV A=1 AWS_KEY="AKIAIOSFODNN7EXAMPLE"
        ENV PASSWORD_FILE=/run/secrets/db TOKEN_TTL=3600
        ARG GITHUB_TOKEN
        ARG SECRET_NAME
        USER 10001
        """)
    lines = [line for _, line, _ in found(scan_json(capsys, "--control", "KH-IMG-009", str(path)), "KH-IMG-009")]
    assert lines == [2, 3, 5]


def test_registry_of_base_images_needs_the_setting(tmp_path, capsys):
    path = write(tmp_path / "Dockerfile", "FROM docker.io/library/alpine:3.20\nFROM scratch\nUSER 1\n")
    config = write(tmp_path / "cfg.yaml", "registries: [registry.example.com]\n")
    code = main(["scan", "--config", str(config), "-f", "json", "--fail-on", "none", "--control", "KH-IMG-007",
                 str(path)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and [f[1] for f in found(report, "KH-IMG-007")] == [1]


@pytest.mark.parametrize("data, kind", [(b"\x00\x01binary", "binary"), (b"\xff\xfeFROM x", "encoding"),
                                        (b"# only a comment\nRUN echo\n", "parse"), (b"", "parse")])
def test_bad_dockerfiles_are_problems(data, kind):
    items = list(dockerfile.parse_bytes(data, "Dockerfile"))
    assert len(items) == 1 and isinstance(items[0], Problem) and items[0].kind == kind


def test_too_large_dockerfile_is_skipped(tmp_path):
    path = write(tmp_path / "Dockerfile", "FROM scratch\n" + "# pad\n" * 1000)
    items = list(dockerfile.read(str(path), ReadOptions(max_file_bytes=100)))
    assert [i.kind for i in items] == ["too-large"]


@pytest.mark.parametrize("tail, lines", [
    ("USER app\nRUN sudo make install\nRUN echo ok; su -c id\n", [3, 4]),
    ("USER app\nRUN doas apk add curl\n", [3]),
    ("USER root\nRUN sudo true\n", []),          # a root final user is KH-IMG-005's finding
    ("RUN sudo true\nUSER 10001\n", []),         # before the final USER: the build runs as root anyway
    ("USER 10001\nRUN ./pseudo-setup --su-mode\n", []),
])
def test_root_regained_after_the_final_user(tmp_path, capsys, tail, lines):
    path = write(tmp_path / "Dockerfile", f"FROM {PINNED}\n" + tail)
    assert [n for _, n, _ in found(scan_json(capsys, "--control", "KH-IMG-013", str(path)), "KH-IMG-013")] == lines


def test_here_documents_are_not_instructions(tmp_path, capsys):
    path = write(tmp_path / "Dockerfile", f"""\
        # syntax=docker/dockerfile:1
        FROM {PINNED}
        USER 10001
        RUN <<EOF
        echo building
        USER root
        EOF
        COPY <<-"CONF" /etc/app.conf
        USER 0
        CONF
        """)
    assert found(scan_json(capsys, "--control", "KH-IMG-005", str(path)), "KH-IMG-005") == []


@pytest.mark.parametrize("user, expected", [
    # USER takes a UID; "00" is the number 0 (Dockerfile reference, USER)
    ("00", "the image runs as root: the user is '00', root (UID 0)"),
    ("0:0", "the image runs as root"),
    # a non-root UID with group 0 is the root group, not the root user
    ("1000:0", "the image runs with the root group (GID 0): the user is '1000:0', whose primary group is 0"),
    ("1000:00", "the image runs with the root group (GID 0)"),
])
def test_root_uid_and_root_group(tmp_path, capsys, user, expected):
    write(tmp_path / "Dockerfile", f"FROM {PINNED}\nUSER {user}\n")
    [(_, line, message)] = found(scan_json(capsys, "--control", "KH-IMG-005", str(tmp_path)), "KH-IMG-005")
    assert line == 2 and message.startswith(expected)


def test_bare_arg_in_a_stage_takes_the_global_default(tmp_path, capsys):
    # Dockerfile reference, "Understand how ARG and FROM interact": "To use the default value of an ARG declared
    # before the first FROM use an ARG instruction without a value inside of a build stage"
    write(tmp_path / "Dockerfile", f"ARG UID=0\nFROM {PINNED}\nARG UID\nUSER $UID\n")
    [(_, line, message)] = found(scan_json(capsys, "--control", "KH-IMG-005", str(tmp_path)), "KH-IMG-005")
    assert line == 4 and "the user is '0', root (UID 0)" in message
    # a default given in the stage is its own, whatever the global one
    write(tmp_path / "Dockerfile", f"ARG UID=1000\nFROM {PINNED}\nARG UID=0\nUSER $UID\n")
    [(_, _, message)] = found(scan_json(capsys, "--control", "KH-IMG-005", str(tmp_path)), "KH-IMG-005")
    assert "the user is '0'" in message
