"""GEXF 1.3 for Gephi, streamed with ``lxml.etree.xmlfile``.

networkx writes GEXF 1.2draft by default and builds the whole document in memory; its 1.3 entry
also carries a misspelt XML-Schema-instance namespace. We write 1.3 ourselves, one ``<node>`` or
``<edge>`` element at a time (built with lxml, which escapes every value), so memory stays flat
whatever the graph's size.

The file is dynamic (``mode="dynamic" timeformat="datetime" timerepresentation="interval"``):
nodes and edges carry ``start``/``end`` so Gephi's timeline replays a community going dark and its
successors appearing. All edges are written directed (networkx cannot read a mixed file back);
``shared_members`` edges are symmetric and say so in their ``symmetric`` attribute. Parallel edges
of different types between the same two communities carry GEXF 1.3's ``kind`` (the edge type).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import networkx as nx
from lxml import etree

from graph.schema import (
    EDGE_FIELDS,
    GEXF_EDGE_XML_ATTRS,
    GEXF_NODE_XML_ATTRS,
    NODE_FIELDS,
    colour_of,
    edge_row,
    node_row,
    rgb,
)

NS = "http://gexf.net/1.3"
NS_VIZ = "http://gexf.net/1.3/viz"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = "http://gexf.net/1.3 http://gexf.net/1.3/gexf.xsd"


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _v(tag: str) -> str:
    return f"{{{NS_VIZ}}}{tag}"


def _text(value: Any, kind: str) -> str:
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "double":
        return repr(float(value))
    return str(value)


def _attributes(cls: str, fields: dict[str, str], skip: tuple[str, ...]) -> etree._Element:
    el = etree.Element(_q("attributes"), {"class": cls, "mode": "static"}, nsmap=_NSMAP)
    for name, kind in fields.items():
        if name not in skip:
            etree.SubElement(el, _q("attribute"), id=name, title=name, type=kind)
    return el


def _attvalues(parent: etree._Element, row: dict[str, Any], fields: dict[str, str], skip: tuple[str, ...]) -> None:
    values = [(k, v) for k, v in row.items() if k not in skip]
    if not values:
        return
    box = etree.SubElement(parent, _q("attvalues"))
    for name, value in values:
        etree.SubElement(box, _q("attvalue"), {"for": name, "value": _text(value, fields[name])})


def _node_element(node: str, data: dict[str, Any]) -> etree._Element:
    row = node_row(data)
    attrs = {"id": str(node), "label": str(row.get("label", node))}
    for name in ("start", "end"):
        if name in row:
            attrs[name] = row[name]
    el = etree.Element(_q("node"), attrs, nsmap=_NSMAP)
    _attvalues(el, row, NODE_FIELDS, GEXF_NODE_XML_ATTRS)
    r, g, b = rgb(colour_of("member" if data.get("node_type") == "member" else data.get("platform")))
    etree.SubElement(el, _v("color"), r=str(r), g=str(g), b=str(b))
    size = 2.0 if data.get("node_type") == "member" else 6.0 + 3.0 * math.log1p(float(data.get("degree", 0)))
    etree.SubElement(el, _v("size"), value=repr(round(size, 3)))
    return el


def _edge_element(u: str, v: str, key: str, data: dict[str, Any]) -> etree._Element:
    row = edge_row(data)
    attrs = {"id": str(key), "source": str(u), "target": str(v), "type": "directed"}
    if "edge_type" in row:
        attrs["kind"] = str(row["edge_type"])
    if "weight" in row:
        attrs["weight"] = repr(float(row["weight"]))
    if "start" in row:
        attrs["start"] = row["start"]
    el = etree.Element(_q("edge"), attrs, nsmap=_NSMAP)
    _attvalues(el, row, EDGE_FIELDS, GEXF_EDGE_XML_ATTRS)
    return el


_NSMAP = {None: NS, "viz": NS_VIZ}
# lxml declares an element's namespaces on every element it serialises on its own; inside our root
# they are already in scope, so the repeated declaration is cut (it is always exactly this text).
_DECL = f' xmlns="{NS}" xmlns:viz="{NS_VIZ}"'.encode()


def _fragment(el: etree._Element) -> bytes:
    text = etree.tostring(el, encoding="utf-8", pretty_print=True)
    head, sep, rest = text.partition(b">")
    if _DECL not in head:
        raise AssertionError("unexpected namespace declarations in a GEXF fragment")
    return head.replace(_DECL, b"", 1) + sep + rest


def write_gexf(g: nx.MultiDiGraph, path: Path, description: str = "Resurface community graph",
               caption: str | None = None, exported_at: datetime | None = None) -> None:
    """Stream ``g`` to ``path``: the header, then one serialised element per node and edge. The
    caption (export date, filters) is appended to the meta description; the export day is the meta's
    ``lastmodifieddate``."""
    meta_attrs = {"lastmodifieddate": exported_at.astimezone(UTC).date().isoformat()} if exported_at else {}
    meta = etree.Element(_q("meta"), meta_attrs, nsmap=_NSMAP)
    if caption:
        description = f"{description}. {caption}"
    etree.SubElement(meta, _q("creator")).text = "Resurface"
    etree.SubElement(meta, _q("description")).text = description
    with open(path, "wb") as fh:
        fh.write(b"<?xml version='1.0' encoding='UTF-8'?>\n")
        fh.write(f'<gexf xmlns="{NS}" xmlns:viz="{NS_VIZ}" xmlns:xsi="{NS_XSI}" '
                 f'xsi:schemaLocation="{SCHEMA_LOCATION}" version="1.3">\n'.encode())
        fh.write(_fragment(meta))
        fh.write(b'<graph defaultedgetype="directed" mode="dynamic" timeformat="datetime" '
                 b'timerepresentation="interval">\n')
        fh.write(_fragment(_attributes("node", NODE_FIELDS, GEXF_NODE_XML_ATTRS)))
        fh.write(_fragment(_attributes("edge", EDGE_FIELDS, GEXF_EDGE_XML_ATTRS)))
        fh.write(b"<nodes>\n")
        for node, data in g.nodes(data=True):
            fh.write(_fragment(_node_element(node, data)))
        fh.write(b"</nodes>\n<edges>\n")
        for u, v, key, data in g.edges(keys=True, data=True):
            fh.write(_fragment(_edge_element(u, v, key, data)))
        fh.write(b"</edges>\n</graph>\n</gexf>\n")


def read_gexf(path: Path) -> nx.MultiDiGraph | nx.DiGraph:
    """Read our GEXF back with networkx's reader.

    networkx's reader knows the 1.3 namespace but not ``timeformat="datetime"`` (it has no type for
    it and fails on the first ``start``); teaching it that datetimes stay ISO strings is all it needs.
    """
    from networkx.readwrite.gexf import GEXFReader

    reader = GEXFReader(node_type=None, version="1.3")
    reader.python_type["datetime"] = str
    with open(path, "rb") as fh:
        graph = reader(fh)
    return graph
