"""Fit a marketing-mix model to a CSV: `python -m engine.mmm data.csv` (or `--demo`).

(`python -m engine.cli.mmm` is the same command.)

Prints the summary table (ROI, marginal ROI and adstock per channel with 90% intervals,
the diagnostics and warnings) and writes PNGs: fit against actual with the holdout marked,
the decomposition, ROI per channel and the response curves with their bands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from engine.cli.mmm_plots import write_all
from engine.errors import EngineError
from engine.mmm.answers import curves, decomposition, summary
from engine.mmm.data import load_csv, load_rows
from engine.mmm.model import DEFAULT_ROI_PRIOR, MarketingMixModel
from engine.mmm.synthetic import generate


def _span(value: dict, digits: int = 2) -> str:
    return f"{value['mean']:.{digits}f} [{value['low']:.{digits}f}, {value['high']:.{digits}f}]"


def summary_table(summary: dict, seconds: float | None = None) -> str:
    """Per channel spend, contribution share, ROI, marginal ROI and adstock, then diagnostics."""
    rows = summary["channels"]
    width = max(len("channel"), *(len(row["channel"]) for row in rows))
    paid = sum(row["contribution"]["mean"] for row in rows)
    lines = [
        f"{'channel':<{width}} {'spend':>14} {'share':>6}  {'ROI (90%)':<22} "
        f"{'marginal ROI (90%)':<22} {'adstock theta':<20}"
    ]
    for row in rows:
        share = row["contribution"]["mean"] / paid if paid > 0 else 0.0
        lines.append(
            f"{row['channel']:<{width}} {row['spend']:>14,.0f} {share:>6.1%}  "
            f"{_span(row['roi']):<22} {_span(row['mroi']):<22} "
            f"{_span(row['adstock']['theta']):<20}"
        )
    diagnostics = summary["diagnostics"]
    shown = {key: ("-" if value is None else f"{value:.3f}") for key, value in diagnostics.items()}
    lines.append(
        f"\n{summary['kpi']} over {summary['periods']} periods: R2 {shown['r2']}, NRMSE "
        f"{shown['nrmse']}, holdout MAPE {shown['mape_holdout']}, DECOMP.RSSD "
        f"{shown['decomp_rssd']}" + (f", fitted in {seconds:.1f} s" if seconds else "")
    )
    for warning in summary["warnings"]:
        lines.append(f"warning ({warning['code']}): {warning['message']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.mmm", description=__doc__)
    parser.add_argument("csv", nargs="?", help="wide or long CSV file")
    parser.add_argument("--demo", action="store_true", help="fit a synthetic history instead")
    parser.add_argument("--kpi", help="KPI column (default: gmv, revenue, sales or conversions)")
    parser.add_argument("--date", help="date column (default: date, week, month_year, ...)")
    parser.add_argument("--controls", default="", help="comma-separated control columns")
    parser.add_argument("--saturation", default="hill", choices=["hill", "negexp"])
    parser.add_argument("--max-lag", type=int, help="cut adstock after this many periods")
    parser.add_argument("--holdout", type=float, default=0.1, help="share of latest periods")
    parser.add_argument(
        "--roi-prior",
        default=DEFAULT_ROI_PRIOR,
        choices=["auto", "zero", "lognormal"],
        help="prior on channels' ROI: lognormal (Meridian's LogNormal(0.2, 0.9) in KPI per "
        "unit of spend), zero (half-normal at no effect), auto (lognormal for a revenue-like "
        f"KPI, zero otherwise); default {DEFAULT_ROI_PRIOR}",
    )
    parser.add_argument("--draws", type=int, default=1000, help="posterior draws")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="out/mmm", help="folder for the PNGs")
    args = parser.parse_args(argv)
    if not args.demo and not args.csv:
        parser.error("give a CSV file or --demo")
    controls = [name.strip() for name in args.controls.split(",") if name.strip()]
    try:
        if args.demo:
            data = load_rows(generate(7, channels=5)["rows"], controls=controls or ["price"])
        else:
            text = Path(args.csv).read_text(encoding="utf-8")
            data = load_csv(text, kpi=args.kpi, date_column=args.date, controls=controls)
        model = MarketingMixModel(
            saturation=args.saturation,
            max_lag=args.max_lag,
            holdout=args.holdout,
            roi_prior=args.roi_prior,
            draws=args.draws,
            seed=args.seed,
        )
        with tqdm(total=100, desc="fitting", unit="%", leave=False) as bar:

            def advance(fraction: float) -> None:
                bar.update(round(100 * fraction) - bar.n)

            model.fit(data, progress=advance)
        answer = summary(model)
        written = write_all(answer, decomposition(model), curves(model), Path(args.out))
    except (EngineError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary_table(answer, model.fit_seconds))
    print("\nwrote " + ", ".join(str(path) for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
