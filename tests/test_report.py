"""The simulator's HTML report: the same charts (Plotly), the table, offline, and the CLI flag."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from engine.cli.report import efficiency_figure, regret_figure, write_report
from engine.cli.simulate import main
from engine.simulate import Cell


def cell(policy, family, k, timesteps, efficiencies, slope):
    return Cell(
        policy=policy,
        family=family,
        n_campaigns=k,
        timesteps=timesteps,
        efficiencies=np.array(efficiencies),
        regret=slope * np.arange(1, timesteps + 1),
    )


@pytest.fixture
def cells():
    return [
        cell("uniform", "negexp", 3, 5, [0.91, 0.89], 0.10),
        cell("curve", "negexp", 3, 5, [0.97, 0.95], 0.03),
        cell("uniform", "hill", 3, 5, [0.85, 0.80], 0.20),
        cell("curve", "hill", 3, 5, [0.96, 0.90], 0.05),
        cell("uniform", "negexp", 3, 8, [0.90, 0.90], 0.10),
        cell("curve", "negexp", 3, 8, [0.99, 0.98], 0.01),
        cell("uniform", "hill", 3, 8, [0.84, 0.82], 0.20),
        cell("curve", "hill", 3, 8, [0.97, 0.93], 0.04),
    ]


def test_regret_panels_carry_each_cells_curve(cells):
    figure = regret_figure(cells, 8)
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert titles == ["negexp, K = 3", "hill, K = 3"]
    assert figure.layout.title.text.startswith("Cumulative regret per policy, T = 8")
    traces = {(trace.name, trace.yaxis): trace for trace in figure.data}
    assert len(traces) == 4
    np.testing.assert_allclose(traces[("curve", "y2")].y, 0.04 * np.arange(1, 9))
    np.testing.assert_allclose(traces[("uniform", "y")].x, np.arange(1, 9))
    assert sum(trace.showlegend for trace in figure.data) == 2  # one legend entry per policy
    assert figure.layout.yaxis.title.text == "Cumulative regret (timesteps)"
    assert figure.layout.xaxis2.title.text == "Timestep"


def test_efficiency_bars_pool_worlds_and_whisker_to_the_worst_seed(cells):
    figure = efficiency_figure(cells)
    by_horizon = {trace.name: trace for trace in figure.data}
    assert set(by_horizon) == {"T = 5", "T = 8"}
    short = by_horizon["T = 5"]
    assert list(short.x) == ["uniform", "curve"]
    np.testing.assert_allclose(short.y, [100 * np.mean([0.91, 0.89, 0.85, 0.80]), 94.5])
    np.testing.assert_allclose(short.error_y.arrayminus, np.array(short.y) - [80, 90])
    assert "Efficiency" in figure.layout.yaxis.title.text


def test_report_is_one_offline_page_with_tables_and_charts(cells, tmp_path: Path):
    path = write_report(cells, tmp_path / "out", "seeds 0..1")
    page = path.read_text()
    assert path.name == "index.html"
    bundled = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    assert (path.parent / "plotly.min.js").read_bytes() == bundled.read_bytes()
    assert "<script src='plotly.min.js'></script>" in page
    assert "cdn" not in page.lower()
    assert page.count("Plotly.newPlot") == 3  # efficiency, then regret for T = 5 and T = 8
    assert "<td>curve</td><td>0.960 (0.950)</td><td>0.930 (0.900)</td>" in page
    assert "<th>negexp K=3</th><th>hill K=3</th>" in page
    assert "seeds 0..1" in page
    with pytest.raises(ValueError):
        write_report([], tmp_path / "empty")


def test_simulate_command_line_writes_the_report(tmp_path: Path, capsys):
    out = tmp_path / "report"
    code = main(
        [
            "--policies=uniform,curve",
            "--families=negexp",
            "--campaigns=3",
            "--timesteps=5",
            "--seeds=1",
            "--png=",
            f"--report={out}",
            "--no-progress",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert f"HTML report: {out / 'index.html'}" in printed
    page = (out / "index.html").read_text()
    assert "T = 5" in page and "Cumulative regret per policy" in page
    assert "negexp, K = 3" in page
