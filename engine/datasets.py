"""Spend/response data from CSV text or JSON rows, in the layouts Oktopus accepts.

- Long: one row per date and campaign: `date`, `campaign`, `spend`, and `conversions`
  and/or `revenue` (the Smart Budget dashboard's `day`, `segment_key`, `spent`, `conv` are
  accepted too).
- Wide monthly (the marketing budget allocation study's): `Month_Year`, one spend column per
  channel, and `gmv`. The
  month's GMV is credited to channels in proportion to their spend that month (the
  study's "observed contributions"); an optional `Total Investment` column must agree with
  the channel spends, which catches channels recorded in other units.

Every problem raises EngineError naming the campaign (or row) and what is wrong.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from engine.errors import EngineError

DATE_COLUMNS = ("date", "day", "month_year", "month", "week", "period")
CAMPAIGN_COLUMNS = ("campaign", "segment_key", "channel", "segment")
SPEND_COLUMNS = ("spend", "spent", "cost")
CONVERSION_COLUMNS = ("conversions", "conv", "conversion")
REVENUE_COLUMNS = ("revenue", "gmv", "sales")
UNIT_COLUMNS = ("currency", "unit", "units")
TOTAL_COLUMNS = ("total_investment", "total_spend", "total")
METRICS = ("auto", "conversions", "revenue")
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m", "%Y/%m/%d", "%Y/%m", "%d/%m/%Y", "%b-%Y", "%b-%y", "%b %Y")
TOTAL_TOLERANCE = 0.01
# The API's cap on any amount (models.common.MAX_AMOUNT): far above real spend or revenue,
# far below what overflows the fits' arithmetic. JSON rows and CSV uploads both meet it here.
MAX_NUMBER = 1e12


@dataclass(frozen=True)
class CampaignSeries:
    """One campaign's observations in date order."""

    name: str
    dates: tuple[date, ...]
    spend: np.ndarray
    response: np.ndarray


@dataclass(frozen=True)
class Dataset:
    """Campaign series plus what the response measures and which layout it came from."""

    campaigns: tuple[CampaignSeries, ...]
    metric: str
    layout: str

    @property
    def names(self) -> list[str]:
        return [series.name for series in self.campaigns]


def _key(column: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(column).strip().lower()).strip("_")


def _find(columns: Mapping[str, str], candidates: Iterable[str]) -> str | None:
    return next((columns[name] for name in candidates if name in columns), None)


def parse_date(text: object, where: str) -> date:
    """A date from ISO text, a year-month, or a few common month spellings."""
    value = str(text).strip()
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise EngineError(f"{where}: {value!r} is not a date")


def parse_number(cell: object, where: str, column: str) -> float:
    """A finite, non-negative number; anything else names the place and the problem."""
    if isinstance(cell, bool):
        raise EngineError(f"{where}: {column} is not a number ({cell!r})")
    if isinstance(cell, int | float):
        value = float(cell)
    else:
        text = "" if cell is None else str(cell).strip()
        if not text:
            raise EngineError(f"{where}: {column} is missing")
        try:
            value = float(text)
        except ValueError:
            raise EngineError(f"{where}: {column} is not a number ({text!r})") from None
    if not np.isfinite(value):
        raise EngineError(f"{where}: {column} must be finite, got {value}")
    if value < 0:
        raise EngineError(f"{where}: {column} is negative ({value:g})")
    if value > MAX_NUMBER:
        raise EngineError(f"{where}: {column} is larger than {MAX_NUMBER:g} ({value:g})")
    return value


def read_csv_rows(text: str) -> list[dict[str, str]]:
    """Rows of a CSV text as dictionaries (header line first)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames:
        raise EngineError("the CSV has no header line")
    return list(reader)


def _series(totals: dict[str, dict[date, list[float]]], metric: str, layout: str) -> Dataset:
    campaigns = []
    for name, by_date in totals.items():
        ordered = sorted(by_date)
        values = np.array([by_date[day] for day in ordered], dtype=float)
        campaigns.append(CampaignSeries(name, tuple(ordered), values[:, 0], values[:, 1]))
    if not campaigns:
        raise EngineError("the data has no rows")
    return Dataset(tuple(campaigns), metric, layout)


def _check_units(rows: list[Mapping], unit_column: str, campaign_column: str | None) -> None:
    seen: dict[str, str] = {}
    for number, row in enumerate(rows, start=1):
        unit = str(row.get(unit_column, "")).strip()
        owner = str(row.get(campaign_column, "")) if campaign_column else f"row {number}"
        if unit and seen.setdefault("unit", unit) != unit:
            raise EngineError(
                f"campaign {owner!r}: inconsistent units ({seen['unit']} and {unit}); "
                "convert all spend and revenue to one currency"
            )


def _long(rows: list[Mapping], columns: Mapping[str, str], metric: str) -> Dataset:
    date_column = _find(columns, DATE_COLUMNS)
    campaign_column = _find(columns, CAMPAIGN_COLUMNS)
    spend_column = _find(columns, SPEND_COLUMNS)
    conversions = _find(columns, CONVERSION_COLUMNS)
    revenue = _find(columns, REVENUE_COLUMNS)
    if date_column is None:
        raise EngineError("long data needs a date column (date or day)")
    if metric == "auto":
        metric = "revenue" if revenue else "conversions"
    response_column = revenue if metric == "revenue" else conversions
    if response_column is None:
        raise EngineError(f"the data has no {metric} column")
    unit_column = _find(columns, UNIT_COLUMNS)
    if unit_column:
        _check_units(rows, unit_column, campaign_column)
    totals: dict[str, dict[date, list[float]]] = {}
    for number, row in enumerate(rows, start=2):
        name = str(row.get(campaign_column, "") or "").strip()
        if not name:
            raise EngineError(f"row {number}: campaign is missing")
        where = f"campaign {name!r} (row {number})"
        day = parse_date(row.get(date_column, ""), where)
        spend = parse_number(row.get(spend_column), where, spend_column)
        response = parse_number(row.get(response_column), where, response_column)
        cell = totals.setdefault(name, {}).setdefault(day, [0.0, 0.0])
        cell[0] += spend
        cell[1] += response
    return _series(totals, metric, "long")


def _wide(rows: list[Mapping], columns: Mapping[str, str], metric: str) -> Dataset:
    date_column = _find(columns, DATE_COLUMNS)
    response_column = _find(columns, REVENUE_COLUMNS if metric != "conversions" else ())
    response_column = response_column or _find(columns, CONVERSION_COLUMNS)
    if date_column is None or response_column is None:
        raise EngineError(
            "data needs either campaign/spend columns (long) or Month_Year, channel spend "
            "columns and gmv (wide)"
        )
    metric = "conversions" if _key(response_column) in CONVERSION_COLUMNS else "revenue"
    total_column = _find(columns, TOTAL_COLUMNS)
    known = {
        date_column,
        response_column,
        total_column,
        *(columns[k] for k in columns if k in CONVERSION_COLUMNS + REVENUE_COLUMNS + UNIT_COLUMNS),
    }
    channels = [column for column in columns.values() if column not in known]
    if not channels:
        raise EngineError("wide data needs at least one channel spend column")
    totals: dict[str, dict[date, list[float]]] = {channel: {} for channel in channels}
    for number, row in enumerate(rows, start=2):
        where = f"row {number}"
        day = parse_date(row.get(date_column, ""), where)
        spend = np.array(
            [parse_number(row.get(c), f"campaign {c!r} ({where})", c) for c in channels]
        )
        outcome = parse_number(row.get(response_column), where, response_column)
        if total_column is not None:
            stated = parse_number(row.get(total_column), where, total_column)
            if abs(stated - spend.sum()) > TOTAL_TOLERANCE * max(stated, spend.sum(), 1e-12):
                raise EngineError(
                    f"{where} ({day.isoformat()}): inconsistent units: channel spends add up to "
                    f"{spend.sum():g} but {total_column} says {stated:g}"
                )
        credit = outcome * spend / spend.sum() if spend.sum() > 0 else np.zeros_like(spend)
        for channel, amount, earned in zip(channels, spend, credit, strict=True):
            cell = totals[channel].setdefault(day, [0.0, 0.0])
            cell[0] += amount
            cell[1] += earned
    return _series(totals, metric, "wide")


def parse_rows(rows: list[Mapping], metric: str = "auto") -> Dataset:
    """A Dataset from rows (dicts of column -> cell), long or wide layout detected by columns."""
    if metric not in METRICS:
        raise EngineError(f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    if not rows:
        raise EngineError("the data has no rows")
    columns: dict[str, str] = {}
    for row in rows:
        if not isinstance(row, Mapping):
            raise EngineError("each row must be an object of column -> value")
        for column in row:
            columns.setdefault(_key(column), column)
    if _find(columns, CAMPAIGN_COLUMNS) and _find(columns, SPEND_COLUMNS):
        return _long(rows, columns, metric)
    return _wide(rows, columns, metric)


def parse_csv(text: str, metric: str = "auto") -> Dataset:
    """A Dataset from CSV text (long or wide layout)."""
    return parse_rows(read_csv_rows(text), metric)
