"""The model's summary as a text table, for the command line."""

from __future__ import annotations


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
