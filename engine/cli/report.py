"""An HTML report of a simulator benchmark, so policies can be compared before one is trusted.

`write_report(cells, directory)` writes `index.html` with the simulator's charts drawn by Plotly
(cumulative regret per policy, one panel per world family and campaign count, at every horizon;
efficiency per policy) and the efficiency table, plus `plotly.min.js` copied from the installed
plotly package beside it, so the report opens offline.
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from engine.simulate import FAMILIES, Cell

REGRET_AXIS = "Cumulative regret (timesteps)"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px;
       padding: 0 1rem; color: #1d2330; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { padding: 0.3rem 0.6rem; border-bottom: 1px solid #dde2ea; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.scroll { overflow-x: auto; }
.muted { color: #5f6b7a; }
"""


def _columns(block: Sequence[Cell]) -> list[tuple[str, int]]:
    return sorted(
        {(cell.family, cell.n_campaigns) for cell in block},
        key=lambda key: (FAMILIES.index(key[0]), key[1]),
    )


def _colors(policies: Sequence[str]) -> dict[str, str]:
    palette = qualitative.Plotly + qualitative.D3
    return {policy: palette[i % len(palette)] for i, policy in enumerate(policies)}


def regret_figure(cells: Sequence[Cell], timesteps: int) -> go.Figure:
    """Mean cumulative regret per policy, one panel per (family, K), for one horizon."""
    block = [cell for cell in cells if cell.timesteps == timesteps]
    families = [family for family in FAMILIES if any(c.family == family for c in block)]
    counts = sorted({cell.n_campaigns for cell in block})
    policies = list(dict.fromkeys(cell.policy for cell in block))
    colors = _colors(policies)
    figure = make_subplots(
        rows=len(families),
        cols=len(counts),
        subplot_titles=[f"{family}, K = {count}" for family in families for count in counts],
        shared_xaxes=True,
        vertical_spacing=0.12 if len(families) > 1 else 0.2,
    )
    x = np.arange(1, timesteps + 1)
    for cell in block:
        row, column = families.index(cell.family) + 1, counts.index(cell.n_campaigns) + 1
        figure.add_trace(
            go.Scatter(
                x=x,
                y=cell.regret,
                mode="lines",
                name=cell.policy,
                legendgroup=cell.policy,
                showlegend=(row, column) == (1, 1),
                line={"color": colors[cell.policy]},
            ),
            row=row,
            col=column,
        )
    figure.update_xaxes(title_text="Timestep", row=len(families))
    figure.update_yaxes(title_text=REGRET_AXIS, col=1)
    figure.update_layout(
        title=f"Cumulative regret per policy, T = {timesteps} (lower is better)",
        height=300 * len(families) + 120,
        legend={"orientation": "h", "y": -0.12 if len(families) > 1 else -0.3},
        margin={"l": 70, "r": 20, "t": 90, "b": 60},
    )
    return figure


def efficiency_figure(cells: Sequence[Cell]) -> go.Figure:
    """Mean efficiency per policy over every world and seed, one bar group per horizon."""
    horizons = sorted({cell.timesteps for cell in cells})
    policies = list(dict.fromkeys(cell.policy for cell in cells))
    figure = go.Figure()
    lowest = 100.0
    for timesteps in horizons:
        pooled = [
            np.concatenate(
                [c.efficiencies for c in cells if c.policy == p and c.timesteps == timesteps]
            )
            for p in policies
        ]
        means = np.array([100 * values.mean() for values in pooled])
        worst = np.array([100 * values.min() for values in pooled])
        lowest = min(lowest, float(worst.min()))
        figure.add_trace(
            go.Bar(
                x=policies,
                y=means,
                name=f"T = {timesteps}",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": 0 * means,
                    "arrayminus": means - worst,
                },
                hovertemplate="%{x}: mean %{y:.1f}%<extra>T = " + str(timesteps) + "</extra>",
            )
        )
    figure.update_layout(
        title="Efficiency per policy: mean over worlds and seeds, whisker down to the worst seed",
        xaxis_title="Policy",
        yaxis_title="Efficiency (% of the oracle's expected revenue)",
        yaxis_range=[max(0.0, 10 * np.floor(lowest / 10) - 10), 101],
        barmode="group",
        height=420,
    )
    return figure


def efficiency_table(cells: Sequence[Cell], timesteps: int) -> str:
    """The simulator's table for one horizon as HTML: mean efficiency (worst seed)."""
    block = [cell for cell in cells if cell.timesteps == timesteps]
    columns = _columns(block)
    policies = list(dict.fromkeys(cell.policy for cell in block))
    head = "".join(f"<th>{html.escape(f)} K={k}</th>" for f, k in columns)
    rows = []
    for policy in policies:
        pooled, entries = [], []
        for column in columns:
            (cell,) = [
                c for c in block if c.policy == policy and (c.family, c.n_campaigns) == column
            ]
            pooled.extend(cell.efficiencies)
            entries.append(
                f"<td>{cell.efficiencies.mean():.3f} ({cell.efficiencies.min():.3f})</td>"
            )
        rows.append(
            f"<tr><td>{html.escape(policy)}</td>{''.join(entries)}"
            f"<td>{np.mean(pooled):.3f}</td><td>{np.min(pooled):.3f}</td></tr>"
        )
    return (
        f"<div class='scroll'><table><thead><tr><th>policy</th>{head}<th>mean</th>"
        f"<th>worst</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def write_report(cells: Sequence[Cell], directory: str | Path, description: str = "") -> Path:
    """Write index.html and plotly.min.js into `directory` (created); returns the HTML path."""
    if not cells:
        raise ValueError("no benchmark results to report")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        Path(str(resources.files("plotly") / "package_data" / "plotly.min.js")),
        out / "plotly.min.js",
    )
    horizons = sorted({cell.timesteps for cell in cells})
    sections = [efficiency_figure(cells).to_html(full_html=False, include_plotlyjs=False)]
    for timesteps in horizons:
        sections.append(f"<h2>T = {timesteps}</h2>")
        sections.append("<p class='muted'>Mean efficiency over seeds (worst seed).</p>")
        sections.append(efficiency_table(cells, timesteps))
        sections.append(
            regret_figure(cells, timesteps).to_html(full_html=False, include_plotlyjs=False)
        )
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Oktopus simulator report</title>"
        f"<style>{_STYLE}</style><script src='plotly.min.js'></script></head><body>"
        "<h1>Oktopus simulator report</h1>"
        "<p>Efficiency is the policy's expected revenue over the oracle's (which knows the true "
        "curves); regret is the oracle's revenue minus the policy's, accumulated and counted "
        "in timesteps of mean oracle revenue.</p>"
        f"<p class='muted'>{html.escape(description)}</p>{''.join(sections)}</body></html>"
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
