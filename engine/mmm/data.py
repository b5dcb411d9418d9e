"""History for the marketing-mix model: KPI, spend per channel and controls per period.

Two layouts are read, from JSON rows or CSV text:

- wide: a date column, the KPI column, one spend column per channel and the named controls
  (every other numeric column is a channel; a `Total Investment` column is ignored);
- long: `date, campaign, spend` and the KPI on each row; spend and KPI are summed by date
  and campaign spend becomes one channel per campaign name; controls must agree on a date.

Without `kpi`, a column named gmv, revenue, sales or conversions is the KPI. Every problem
raises EngineError naming the column and the row (rows count from 1, the first row under
the header), so the API can answer 422.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from engine.datasets import (
    CAMPAIGN_COLUMNS,
    DATE_COLUMNS,
    SPEND_COLUMNS,
    TOTAL_COLUMNS,
    parse_date,
    parse_number,
    read_csv_rows,
)
from engine.errors import EngineError

KPI_COLUMNS = ("gmv", "revenue", "sales", "conversions")
FREQUENCIES = {"daily": 1, "weekly": 7, "monthly": 30}


@dataclass(frozen=True)
class MMMData:
    """Aligned series, in date order: y (T,), spend (T, C), controls (T, M)."""

    dates: tuple[date, ...]
    kpi: str
    y: np.ndarray
    channels: tuple[str, ...]
    spend: np.ndarray
    controls: tuple[str, ...]
    control_values: np.ndarray
    layout: str

    @property
    def periods(self) -> int:
        return len(self.dates)

    @property
    def frequency(self) -> str:
        return detect_frequency(self.dates)

    def to_dict(self) -> dict:
        """Plain JSON-able data (dates as ISO text)."""
        return {
            "dates": [day.isoformat() for day in self.dates],
            "kpi": self.kpi,
            "y": self.y.tolist(),
            "channels": list(self.channels),
            "spend": self.spend.tolist(),
            "controls": list(self.controls),
            "control_values": self.control_values.tolist(),
            "layout": self.layout,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> MMMData:
        """The data `to_dict` wrote."""
        periods = len(data["dates"])
        return cls(
            dates=tuple(date.fromisoformat(day) for day in data["dates"]),
            kpi=data["kpi"],
            y=np.asarray(data["y"], dtype=float),
            channels=tuple(data["channels"]),
            spend=np.asarray(data["spend"], dtype=float).reshape(periods, -1),
            controls=tuple(data["controls"]),
            control_values=np.asarray(data["control_values"], dtype=float).reshape(periods, -1),
            layout=data["layout"],
        )


def column_key(column: object) -> str:
    """Column name folded for matching: `Month_Year`, `month year` -> `month_year`."""
    return re.sub(r"[^a-z0-9]+", "_", str(column).strip().lower()).strip("_")


def detect_frequency(dates: Sequence[date]) -> str:
    """daily, weekly or monthly from the median gap between consecutive dates."""
    if len(dates) < 2:
        raise EngineError("the data needs at least two dates")
    gaps = np.diff([day.toordinal() for day in dates])
    median = float(np.median(gaps))
    if median <= 2:
        return "daily"
    if median <= 10:
        return "weekly"
    if 26 <= median <= 33:
        return "monthly"
    raise EngineError(
        f"column date: periods {median:g} days apart are not daily, weekly or monthly"
    )


def _signed_number(cell: object, where: str, column: str) -> float:
    """A finite number that may be negative (controls such as a price change)."""
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        value = float(cell)
        if not np.isfinite(value):
            raise EngineError(f"{where}: column {column!r} must be finite, got {value}")
        return value
    text = "" if cell is None else str(cell).strip()
    if text.startswith("-"):
        return -parse_number(text[1:], where, f"column {column!r}")
    return parse_number(cell, where, f"column {column!r}")


def _pick(
    columns: Mapping[str, str], given: str | None, candidates: Sequence[str], role: str
) -> str:
    if given is not None:
        if given in columns.values():
            return given
        if column_key(given) in columns:
            return columns[column_key(given)]
        raise EngineError(f"column {given!r} (the {role}) is not in the data")
    found = next((columns[name] for name in candidates if name in columns), None)
    if found is None:
        raise EngineError(f"no {role} column: name one, or call it {' or '.join(candidates)}")
    return found


def _controls(columns: Mapping[str, str], names: Sequence[str] | None) -> list[str]:
    picked = []
    for name in names or ():
        picked.append(_pick(columns, str(name).strip(), (), "control"))
    if len(set(picked)) != len(picked):
        raise EngineError("controls: a column is named twice")
    return picked


def _columns(rows: Sequence[Mapping]) -> dict[str, str]:
    columns: dict[str, str] = {}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise EngineError(f"row {number}: each row must be an object of column -> value")
        for column in row:
            columns.setdefault(column_key(column), str(column))
    return columns


def _check_dates(days: list[date], date_column: str) -> None:
    seen: dict[date, int] = {}
    for number, day in enumerate(days, start=1):
        if day in seen:
            raise EngineError(
                f"row {number}: column {date_column!r}: date {day.isoformat()} repeats "
                f"row {seen[day]}"
            )
        seen[day] = number


def _assemble(
    layout: str,
    kpi: str,
    days: list[date],
    y: list[float],
    channels: list[str],
    spend: list[list[float]],
    controls: list[str],
    control_values: list[list[float]],
) -> MMMData:
    order = np.argsort([day.toordinal() for day in days], kind="stable")
    spend_array = np.asarray(spend, dtype=float).reshape(len(days), len(channels))[order]
    totals = spend_array.sum(axis=0)
    if not channels:
        raise EngineError("the data needs at least one channel spend column")
    for channel, total in zip(channels, totals, strict=True):
        if total <= 0:
            raise EngineError(f"column {channel!r}: the channel never spends")
    dates = tuple(days[i] for i in order)
    detect_frequency(dates)
    return MMMData(
        dates=dates,
        kpi=kpi,
        y=np.asarray(y, dtype=float)[order],
        channels=tuple(channels),
        spend=spend_array,
        controls=tuple(controls),
        control_values=np.asarray(control_values, dtype=float).reshape(len(days), -1)[order],
        layout=layout,
    )


def _wide(rows, columns, kpi, date_column, controls) -> MMMData:
    known = {kpi, date_column, *controls}
    known |= {columns[k] for k in TOTAL_COLUMNS if k in columns}
    channels = [column for column in columns.values() if column not in known]
    days, y, spend, values = [], [], [], []
    for number, row in enumerate(rows, start=1):
        where = f"row {number}"
        days.append(parse_date(row.get(date_column, ""), f"{where}: column {date_column!r}"))
        y.append(parse_number(row.get(kpi), where, f"column {kpi!r}"))
        spend.append([parse_number(row.get(c), where, f"column {c!r}") for c in channels])
        values.append([_signed_number(row.get(c), where, c) for c in controls])
    _check_dates(days, date_column)
    return _assemble("wide", kpi, days, y, channels, spend, controls, values)


def _long(rows, columns, kpi, date_column, controls) -> MMMData:
    campaign_column = next(columns[k] for k in CAMPAIGN_COLUMNS if k in columns)
    spend_column = next(columns[k] for k in SPEND_COLUMNS if k in columns)
    by_date: dict[date, dict] = {}
    channels: dict[str, None] = {}
    for number, row in enumerate(rows, start=1):
        where = f"row {number}"
        name = str(row.get(campaign_column, "") or "").strip()
        if not name:
            raise EngineError(f"{where}: column {campaign_column!r} is missing")
        channels.setdefault(name, None)
        day = parse_date(row.get(date_column, ""), f"{where}: column {date_column!r}")
        cell = by_date.setdefault(day, {"y": 0.0, "spend": {}, "controls": None, "row": number})
        cell["y"] += parse_number(row.get(kpi), where, f"column {kpi!r}")
        amount = parse_number(row.get(spend_column), where, f"column {spend_column!r}")
        cell["spend"][name] = cell["spend"].get(name, 0.0) + amount
        values = [_signed_number(row.get(c), where, c) for c in controls]
        if cell["controls"] is None:
            cell["controls"] = values
        elif cell["controls"] != values:
            column = controls[next(i for i, v in enumerate(values) if v != cell["controls"][i])]
            raise EngineError(
                f"{where}: column {column!r} differs from row {cell['row']} on the same date "
                f"{day.isoformat()} (a control has one value per date)"
            )
    days = list(by_date)
    names = list(channels)
    return _assemble(
        "long",
        kpi,
        days,
        [by_date[day]["y"] for day in days],
        names,
        [[by_date[day]["spend"].get(name, 0.0) for name in names] for day in days],
        controls,
        [by_date[day]["controls"] for day in days],
    )


def load_rows(
    rows: Sequence[Mapping],
    kpi: str | None = None,
    date_column: str | None = None,
    controls: Sequence[str] | None = None,
) -> MMMData:
    """MMMData from rows (dicts of column -> cell), wide or long layout detected by columns."""
    if not rows:
        raise EngineError("the data has no rows")
    columns = _columns(rows)
    kpi_column = _pick(columns, kpi, KPI_COLUMNS, "KPI")
    date_name = _pick(columns, date_column, DATE_COLUMNS, "date")
    control_names = _controls(columns, controls)
    for name in control_names:
        if name in (kpi_column, date_name):
            raise EngineError(f"controls: column {name!r} is the KPI or the date")
    is_long = any(k in columns for k in CAMPAIGN_COLUMNS) and any(
        k in columns for k in SPEND_COLUMNS
    )
    build = _long if is_long else _wide
    return build(rows, columns, kpi_column, date_name, control_names)


def load_csv(
    text: str,
    kpi: str | None = None,
    date_column: str | None = None,
    controls: Sequence[str] | None = None,
) -> MMMData:
    """MMMData from CSV text (header line first)."""
    return load_rows(read_csv_rows(text), kpi, date_column, controls)
