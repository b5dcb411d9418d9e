"""The `python -m engine.cli.curves` report: PNGs from a CSV or from --demo data."""

import csv

from engine.cli.curves import demo_rows, main


def test_demo_writes_one_png_per_channel_and_the_allocation(tmp_path, capsys):
    assert main(["--demo", "--weeks", "30", "--out", str(tmp_path)]) == 0
    written = sorted(path.name for path in tmp_path.glob("*.png"))
    assert written == [
        "allocation.png",
        "curve_display.png",
        "curve_search.png",
        "curve_social.png",
        "curve_video.png",
    ]
    assert all(path.read_bytes()[:4] == b"\x89PNG" for path in tmp_path.glob("*.png"))
    assert "expected response" in capsys.readouterr().out


def test_csv_file_with_a_budget(tmp_path, capsys):
    source = tmp_path / "data.csv"
    rows = [row for row in demo_rows(weeks=20) if row["campaign"] in ("search", "social")]
    with source.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main([str(source), "--budget", "5000", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "curve_social.png").exists()
    assert "allocation of 5,000.00 per period" in capsys.readouterr().out


def test_bad_csv_reports_the_problem(tmp_path, capsys):
    source = tmp_path / "bad.csv"
    source.write_text("date,campaign,spend,conversions\n2024-01-01,a,-3,1\n")
    assert main([str(source), "--out", str(tmp_path)]) == 2
    assert "campaign 'a'" in capsys.readouterr().err
