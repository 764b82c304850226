"""Renderings of the reachability matrix: table, JSON, Graphviz DOT and Mermaid.

Each renderer takes the stream of allowed connections and writes it; none evaluates.
"""

from __future__ import annotations

from typing import IO
from collections.abc import Callable, Iterable

import orjson

from kubeharden.analysis.policies import IPBlock
from kubeharden.analysis.reachability import Connection, Workload


def _name(end: Workload | IPBlock) -> str:
    return end.label if isinstance(end, Workload) else str(end)


def _ports(c: Connection) -> str:
    """The ports, with the node addresses in the block that the policies treat otherwise."""
    return f"{c.ports} ({c.nodes_note})" if c.nodes else str(c.ports)


def write_table(connections: Iterable[Connection], out: IO[str]) -> None:
    rows = [(_name(c.src), _name(c.dst), _ports(c)) for c in connections]
    header = ("SOURCE", "DESTINATION", "PORTS")
    widths = [max([len(header[i]), *(len(r[i]) for r in rows)]) for i in range(2)]
    out.write(f"{header[0]:<{widths[0]}}  {header[1]:<{widths[1]}}  {header[2]}\n")
    for src, dst, ports in rows:
        out.write(f"{src:<{widths[0]}}  {dst:<{widths[1]}}  {ports}\n")
    out.write(f"\n{len(rows)} allowed connection(s); pairs with nothing allowed are not listed\n")


def write_json(connections: Iterable[Connection], out: IO[str]) -> None:
    """A JSON array, streamed: a matrix of a million pairs never sits in memory as one list."""
    out.write("[")
    for i, c in enumerate(connections):
        item = orjson.dumps(c.to_json(), option=orjson.OPT_INDENT_2).decode().replace("\n", "\n  ")
        out.write(("," if i else "") + "\n  " + item)
    out.write("\n]\n")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _edges(connections: Iterable[Connection]) -> tuple[dict[str, tuple[str, bool]], list[tuple[str, str, str]]]:
    """Node ids by name (with "is an address block") and labelled edges."""
    ids: dict[str, tuple[str, bool]] = {}
    edges = []
    for c in connections:
        ends = []
        for end in (c.src, c.dst):
            name = _name(end)
            if name not in ids:
                ids[name] = (f"n{len(ids)}", isinstance(end, IPBlock))
            ends.append(ids[name][0])
        label = "all" if c.ports.is_all else ", ".join(c.ports.labels()) or "nothing"
        edges.append((ends[0], ends[1], f"{label}; {c.nodes_note}" if c.nodes else label))
    return ids, edges


def write_dot(connections: Iterable[Connection], out: IO[str]) -> None:
    ids, edges = _edges(connections)
    out.write("digraph netpol {\n  rankdir=LR;\n  node [shape=box];\n")
    for name, (node, block) in ids.items():
        shape = ", shape=ellipse" if block else ""
        out.write(f"  {node} [label={_quote(name)}{shape}];\n")
    for src, dst, label in edges:
        out.write(f"  {src} -> {dst} [label={_quote(label)}];\n")
    out.write("}\n")


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def write_mermaid(connections: Iterable[Connection], out: IO[str]) -> None:
    ids, edges = _edges(connections)
    out.write("flowchart LR\n")
    for name, (node, block) in ids.items():
        text = _mermaid_text(name)
        out.write(f'  {node}(["{text}"])\n' if block else f'  {node}["{text}"]\n')
    for src, dst, label in edges:
        out.write(f'  {src} -->|"{_mermaid_text(label)}"| {dst}\n')


RENDERERS: dict[str, Callable[[Iterable[Connection], IO[str]], None]] = {
    "table": write_table, "json": write_json, "dot": write_dot, "mermaid": write_mermaid,
}
