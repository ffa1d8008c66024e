"""``resurface graph export|stats``: the community graph for Gephi, Cytoscape, D3, spreadsheets, people."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.support import FormatOption, OutputFormat, console, emit, progress_iter, state
from graph.exports import ExportFormat, FigureOptions, export_graph
from graph.filters import GraphFilter, parse_edge_types
from graph.pipeline import BuildOptions
from model.errors import UsageError
from service.app import App
from service.graph import export_graph_of

app = typer.Typer(help="The community graph: export it, or summarise it.", no_args_is_help=True)


def parse_when(value: str | None, option: str, *, end_of_day: bool = False) -> datetime | None:
    """``YYYY-MM-DD`` or an ISO datetime (UTC unless it says otherwise). A bare date given to
    ``--until`` means the end of that day."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r} is not a date (YYYY-MM-DD) or ISO datetime") from None
    if end_of_day and len(value) == 10:
        parsed = datetime.combine(parsed.date(), time(23, 59, 59))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_size(value: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in value.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size {value!r}: write WIDTHxHEIGHT in pixels, e.g. 1600x1200") from None
    if not (200 <= w <= 10000 and 200 <= h <= 10000):
        raise UsageError(f"--size {value!r}: width and height must be between 200 and 10000 pixels")
    return w, h


def check_case(application: App, case: str | None) -> None:
    """An unknown ``--case`` is a usage error naming it and the known cases, not an empty export."""
    if case is None:
        return
    from graph.queries import case_names

    with application.store.session() as session:
        known = case_names(session)
    if case not in known:
        choices = ", ".join(known) if known else "none yet (give one with `watch add --case NAME`)"
        raise UsageError(f"--case {case!r}: no community has that case; known cases: {choices}")


def caption_filters(flt: GraphFilter, opts: BuildOptions) -> dict[str, Any]:
    """The filters a caption and the audit log name: the graph filters plus non-default build options."""
    out = flt.describe()
    if opts.members:
        out["members"] = True
    if opts.min_shared != 1:
        out["min_shared"] = opts.min_shared
    return out


def _filter_from(case: str | None, platform: list[str] | None, since: str | None, until: str | None,
                 min_weight: float | None, edge_types: list[str] | None, around: str | None,
                 depth: int) -> GraphFilter:
    return GraphFilter(case=case, platforms=tuple(p.lower() for p in platform or ()),
                       since=parse_when(since, "--since"), until=parse_when(until, "--until", end_of_day=True),
                       min_weight=min_weight, edge_types=parse_edge_types(edge_types or ()), around=around,
                       depth=depth)


CaseOpt = Annotated[str | None, typer.Option("--case", help="Only communities of this case.")]
PlatformOpt = Annotated[list[str] | None, typer.Option("--platform", help="Only these platforms (repeatable).")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Only what existed on or after (YYYY-MM-DD).")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Only what existed on or before (YYYY-MM-DD).")]
MinWeightOpt = Annotated[float | None, typer.Option("--min-weight", help="Drop edges lighter than this.")]
EdgeTypesOpt = Annotated[list[str] | None, typer.Option(
    "--edge-types", help="Only these edge types (comma-separated or repeated): shared_members, reposted_content, "
    "forwards, links, migration, rename, member_of.")]
AroundOpt = Annotated[str | None, typer.Option("--around", help="Ego network of this community "
                                               "(handle, platform:handle or id).")]
DepthOpt = Annotated[int, typer.Option("--depth", help="Hops from --around.", min=0)]
MembersOpt = Annotated[bool, typer.Option("--members", help="Add pseudonymous member nodes (members seen in "
                                          "two or more communities) for a bipartite view.")]


@app.command("export")
def export(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", "-f", help="gexf, graphml, json, csv, png, svg or html.")],
    output: Annotated[str, typer.Option("--output", "-o", help="File to write (csv: a folder, or PATH_nodes.csv "
                                         "and PATH_edges.csv).")],
    case: CaseOpt = None,
    platform: PlatformOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    min_weight: MinWeightOpt = None,
    edge_types: EdgeTypesOpt = None,
    around: AroundOpt = None,
    depth: DepthOpt = 1,
    members: MembersOpt = False,
    min_shared: Annotated[int, typer.Option("--min-shared", help="Shared-member edges need at least this many "
                                            "members in common.", min=1)] = 1,
    metrics: Annotated[bool, typer.Option("--metrics/--no-metrics", help="Compute degree, betweenness and "
                                          "Louvain clusters.")] = True,
    size: Annotated[str, typer.Option("--size", help="PNG/SVG size in pixels, WIDTHxHEIGHT.")] = "1600x1200",
    max_nodes: Annotated[int, typer.Option("--max-nodes", help="PNG/SVG: draw at most this many nodes "
                                           "(HTML: 5x this).", min=1)] = 300,
) -> None:
    """Export the community graph (pseudonymous: no post text, no member handles). Audited."""
    if fmt.lower() not in set(ExportFormat):
        raise UsageError(f"--format {fmt!r}: choose one of {', '.join(ExportFormat)}")
    export_format = ExportFormat(fmt.lower())
    flt = _filter_from(case, platform, since, until, min_weight, edge_types, around, depth)
    build = BuildOptions(members=members, min_shared=min_shared, metrics=metrics)
    figure = FigureOptions(size=parse_size(size), max_nodes=max_nodes, html_max_nodes=max_nodes * 5,
                           exported_at=datetime.now(UTC), filters=caption_filters(flt, build))
    application = state(ctx).app
    check_case(application, case)
    with progress_iter(2, f"exporting {export_format}") as bar:
        g = export_graph_of(application.store, flt, build)
        bar.advance()
        paths = _audited_export(application, g, export_format, output, figure, flt, members)
        bar.advance()
    console.print(f"wrote {', '.join(str(p) for p in paths)}: {g.number_of_nodes()} nodes, "
                  f"{g.number_of_edges()} edges")


def _audited_export(application: App, g: Any, export_format: ExportFormat, output: str, figure: FigureOptions,
                    flt: GraphFilter, members: bool) -> list[Path]:
    from store import audit

    details: dict[str, Any] = {"format": str(export_format), "path": output, "filters": flt.describe(),
                               "members": members, "nodes": g.number_of_nodes(), "edges": g.number_of_edges()}
    # Audited before anything is written: an export that cannot be audited does not happen.
    with application.store.session() as session:
        audit.record(session, "graph_export", target=output, details=details)
    return export_graph(g, export_format, output, figure)


@app.command("stats")
def stats(
    ctx: typer.Context,
    case: CaseOpt = None,
    platform: PlatformOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    min_weight: MinWeightOpt = None,
    edge_types: EdgeTypesOpt = None,
    around: AroundOpt = None,
    depth: DepthOpt = 1,
    top: Annotated[int, typer.Option("--top", help="How many communities to list.", min=1)] = 20,
    fmt: OutputFormat = FormatOption,
) -> None:
    """The best-connected communities (by betweenness) with their degree and Louvain cluster."""
    from store import audit

    flt = _filter_from(case, platform, since, until, min_weight, edge_types, around, depth)
    application = state(ctx).app
    check_case(application, case)
    with application.store.session() as session:
        audit.record(session, "graph_stats", details={"filters": flt.describe(), "top": top})
    g = export_graph_of(application.store, flt, BuildOptions())
    rows = [
        {"node": n, "platform": d.get("platform"), "handle": d.get("handle"), "title": d.get("title"),
         "status": d.get("status"), "degree": d.get("degree"), "weighted_degree": d.get("weighted_degree"),
         "betweenness": d.get("betweenness"), "cluster": d.get("cluster")}
        for n, d in g.nodes(data=True) if d.get("node_type") == "community"
    ]
    rows.sort(key=lambda r: (-(r["betweenness"] or 0.0), -(r["degree"] or 0), r["node"]))
    emit(rows[:top], fmt, title=f"communities ({g.number_of_nodes()} nodes, {g.number_of_edges()} edges)")
