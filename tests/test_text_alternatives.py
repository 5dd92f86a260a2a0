"""Every chart has a text alternative on demand: the numbers it draws, as a table under it."""

from __future__ import annotations

import numpy as np
from apptest import open_page

from ui import figures


def test_a_line_chart_becomes_one_row_per_point():
    fig = figures.line_chart({"ELBO": ([1, 2, 3], [-30.0, -25.0, -20.0]), "KL": ([1, 2], [0.5, 1.5])}, "t")
    table = figures.figure_table(fig)
    assert list(table.columns) == ["series", "x", "y"] and len(table) == 5
    assert table[table.series == "KL"].y.tolist() == [0.5, 1.5]


def test_a_heatmap_becomes_its_grid_and_bars_their_values():
    table = figures.figure_table(figures.heatmap(np.arange(6).reshape(2, 3), x=["z1", "z2", "z3"], y=["a", "b"]))
    assert table.shape == (2, 3) and table.loc["b", "z3"] == 5.0
    bars = figures.figure_table(figures.bar_chart(["z0", "z1"], [0.1, 2.0], "KL per dimension"))
    assert bars.x.tolist() == ["z0", "z1"] and bars.y.tolist() == [0.1, 2.0]


def test_a_huge_grid_is_cut_to_the_cell_budget():
    table = figures.figure_table(figures.heatmap(np.zeros((400, 400))))
    assert table.size <= figures.MAX_TABLE_CELLS


def test_with_chart_numbers_on_every_chart_of_a_page_has_its_table():
    at = open_page("10_elbo.py")
    at.session_state["numbers"] = True
    at.run()
    assert not at.exception
    charts = at.get("plotly_chart")
    tables = [e for e in at.expander if e.label.startswith("Numbers: ")]
    assert len(charts) >= 4 and len(tables) == len(charts)
    assert all(len(t.dataframe) == 1 or t.caption for t in tables)
    off = open_page("10_elbo.py").run()
    assert not [e for e in off.expander if e.label.startswith("Numbers: ")], "off by default"
