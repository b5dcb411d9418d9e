"""How complete a report is by its age, learnt from the late corrections a run receives.

Advertising platforms report a share of a timestep's conversions days later; the run is told
them as late corrections (`Policy.refold`). Until then the latest rows lack part of their
value, and they are the rows at the spends a policy just tried: a campaign given more looks
as if it saturated. The `curve` policy keeps its latest `window` rows apart from its running
sums (this module's record), learns from them how complete a row is at each age, and reads
each young row as its value divided by that completeness, weighed by it (a row half in is
half an observation). A row leaves the record, into the running sums, once `window`
timesteps old.

What is learnt (chain ladder, as insurers complete claims that are still coming in):
- pooled development factors: for each age j, the total of the record's rows at age j + 1
  over their total at age j (every campaign, rows first reported in full), so that a row of
  age a is complete to 1 / (product of the factors from a on);
- each campaign's late share: what it first reported of its rows that left the record, over
  what they finally held, shrunk toward the pooled share by `_PRIOR_ROWS` rows' worth; a
  campaign's completeness at age a is 1 - (pooled missing share at a) x (its late share over
  the pooled one).

A row's value at each age is recorded when the next row comes in (`advance`), once: a refold
folds the rows again from the same record, updating the rows' values but neither their first
report nor the evidence, so refolding what the run was told changes nothing, and a run whose
reports are never corrected learns completeness 1 and decides as without the record.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.packing import pack, unpack
from engine.policies.shared_factor import deseasoned, predictions
from engine.policies.weekly_profile import learnt, profile_of, row_factors

_ROW_KEYS = ("spend", "value", "seen", "first", "first_seen")
_PRIOR_ROWS = 4.0
"""How many rows of the pooled late share a campaign's own is shrunk toward."""
_COMPLETENESS_RANGE = (0.1, 2.0)


def empty_record(n_campaigns: int, window: int) -> dict:
    """A record with no row and no evidence."""
    nothing = pack(np.zeros((0, n_campaigns)))
    return {
        "rows": [],
        **{key: nothing for key in _ROW_KEYS},
        "history": [],
        "through": -1,
        "grown": [0.0] * window,
        "base": [0.0] * window,
        "first_total": [0.0] * n_campaigns,
        "final_total": [0.0] * n_campaigns,
        "left": 0,
    }


def record_arrays(record: dict, n_campaigns: int) -> dict[str, np.ndarray]:
    """The record's rows as arrays (rows, K)."""
    shape = (len(record["rows"]), n_campaigns)
    return {key: unpack(record[key], shape).copy() for key in _ROW_KEYS}


def fold_row(
    record: dict, row: int, spend: np.ndarray, value: np.ndarray, window: int
) -> tuple[dict, list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]]:
    """The record with finished row `row` folded in, and the rows that left it, oldest first,
    as (row, spend, value, observed).

    A row the record holds (a refold) has its spend and value replaced; a new one is added
    with them as its first report. Rows of the record older than `row` that were never
    recorded at their present age are, now (their value at that age is evidence), and rows
    `window` old leave. Rows at or before `through` left the record before (a refold folds
    them again): they pass through without evidence.
    """
    n_campaigns = spend.size
    rows = list(record["rows"])
    arrays = record_arrays(record, n_campaigns)
    history = [list(h) for h in record["history"]]
    seen = np.isfinite(value)
    clean = np.where(seen, value, 0.0)
    spend = np.where(seen, spend, 0.0)  # a cell without a value weighs nothing
    if row in rows:
        index = rows.index(row)
        arrays["spend"][index], arrays["value"][index] = spend, clean
        arrays["seen"][index] = seen
    else:
        index = int(np.searchsorted(rows, row))
        rows.insert(index, row)
        for key, new in zip(_ROW_KEYS, (spend, clean, seen, clean, seen), strict=True):
            arrays[key] = np.insert(arrays[key], index, new, axis=0)
        history.insert(index, [float(clean.sum())])
    grown = np.array(record["grown"], dtype=float)
    base = np.array(record["base"], dtype=float)
    through = int(record["through"])
    totals = (arrays["value"] * arrays["seen"] * arrays["first_seen"]).sum(axis=1)
    for i, r in enumerate(rows):
        age = row - r
        if r <= through or age < 0:
            continue
        while len(history[i]) <= min(age, window):
            j = len(history[i]) - 1
            grown[j] += totals[i]
            base[j] += history[i][j]
            history[i].append(float(totals[i]))
    first_total = np.array(record["first_total"], dtype=float)
    final_total = np.array(record["final_total"], dtype=float)
    left = int(record["left"])
    leaving = [i for i, r in enumerate(rows) if r <= row - window]
    out = []
    for i in leaving:
        r = rows[i]
        if r > through:
            both = arrays["seen"][i] * arrays["first_seen"][i]
            first_total += both * arrays["first"][i]
            final_total += both * arrays["value"][i]
            left += 1
            through = r
        out.append((r, arrays["spend"][i], arrays["value"][i], arrays["seen"][i].astype(bool)))
    kept = [i for i in range(len(rows)) if i not in leaving]
    folded = {
        "rows": [rows[i] for i in kept],
        **{key: pack(arrays[key][kept]) for key in _ROW_KEYS},
        "history": [history[i] for i in kept],
        "through": through,
        "grown": grown.tolist(),
        "base": base.tolist(),
        "first_total": first_total.tolist(),
        "final_total": final_total.tolist(),
        "left": left,
    }
    return folded, out


def pooled_completeness(record: dict) -> np.ndarray:
    """How complete a row is at each age 0 .. window - 1, every campaign pooled."""
    grown = np.asarray(record["grown"], dtype=float)
    base = np.asarray(record["base"], dtype=float)
    factors = np.divide(grown, base, out=np.ones_like(grown), where=(base > 0) & (grown > 0))
    # Completeness at age a: 1 / (factors a, a + 1, ..., window - 1).
    development = np.cumprod(factors[::-1])[::-1]
    return np.clip(1.0 / development, *_COMPLETENESS_RANGE)


def completeness(record: dict, young: dict[str, np.ndarray], ages: np.ndarray) -> np.ndarray:
    """Each campaign's completeness (rows, K) for the record's rows `young` of `ages`.

    A campaign's late share relative to the pooled one is what its rows grew since their
    first report over what they would have grown at the pooled rate: rows that left the record
    (grown to their final value) and the record's own rows (grown as far as their age), so
    that a campaign's own rate is known before any row leaves. Shrunk toward the pooled rate
    by `_PRIOR_ROWS` rows' worth."""
    every_age = pooled_completeness(record)
    pooled = every_age[ages]  # (rows,)
    missing = 1.0 - every_age[0] if every_age.size else 0.0
    n_campaigns = len(record["first_total"])
    if abs(missing) < 1e-3:
        return np.repeat(pooled[:, None], n_campaigns, axis=1)
    first = np.asarray(record["first_total"], dtype=float)
    final = np.asarray(record["final_total"], dtype=float)
    both = young["seen"] * young["first_seen"]
    now = both * young["value"]
    # The share of its final value a row gains between its first report and its age, pooled.
    gained = 1.0 - every_age[0] / pooled  # (rows,)
    grew = (final - first) + (now - both * young["first"]).sum(axis=0)
    expected = missing * final + (gained[:, None] * now).sum(axis=0)
    rows = record["left"] + ages.size
    typical = (final + now.sum(axis=0)) / max(rows, 1)
    prior = _PRIOR_ROWS * missing * typical
    relative = np.divide(
        grew + prior, expected + prior, out=np.ones(n_campaigns), where=expected + prior > 0
    )
    each = 1.0 - (1.0 - pooled[:, None]) * relative[None, :]
    return np.clip(each, *_COMPLETENESS_RANGE)


def young_rows(record: dict, n_campaigns: int, newest: int) -> dict[str, np.ndarray]:
    """The record's rows up to `newest`, with their age and each campaign's completeness."""
    arrays = record_arrays(record, n_campaigns)
    rows = np.asarray(record["rows"], dtype=int)
    chosen = rows <= newest
    young = {key: arrays[key][chosen] for key in _ROW_KEYS}
    ages = newest - rows[chosen]
    return {**young, "age": ages, "completeness": completeness(record, young, ages)}


def resized_record(record: dict, keep: Sequence[int | None]) -> dict:
    """The record over a new list of campaigns (`keep[i]`: old index of new campaign i, None
    for one added, which has reported nothing)."""
    n_old = len(record["first_total"])
    arrays = record_arrays(record, n_old)
    index = [0 if i is None else i for i in keep]
    added = np.array([i is None for i in keep], dtype=bool)

    def moved(rows: np.ndarray) -> np.ndarray:
        return np.where(added, 0.0, rows[..., index])

    rows = {key: moved(arrays[key]) for key in _ROW_KEYS}
    resized = dict(record)
    resized.update({key: pack(rows[key]) for key in _ROW_KEYS})
    # Totals recorded over the old campaigns would read as growth or loss at the next age.
    totals = (rows["value"] * rows["seen"] * rows["first_seen"]).sum(axis=1)
    pairs = zip(totals, record["history"], strict=True)
    resized["history"] = [[float(total)] * len(ages) for total, ages in pairs]
    for key in ("first_total", "final_total"):
        resized[key] = moved(np.asarray(record[key], dtype=float)).tolist()
    return resized


class ReportAges:
    """Mixin of the `curve` policy: its latest rows kept in a record, read as completed."""

    params: dict

    def features(self, spend: np.ndarray, spend_unit: float) -> np.ndarray:
        raise NotImplementedError

    def empty_reports(self, n_campaigns: int) -> dict:
        """The record of a run that has reported nothing."""
        return empty_record(n_campaigns, self.params["report_window"])

    def terms(
        self,
        spend: np.ndarray,
        value: np.ndarray,
        weight: np.ndarray,
        spend_unit: float,
        sums: dict[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """The sums' terms of rows (R, K) of spends and values, each cell weighed, each row
        divided by its shared factor against `sums` (engine.policies.shared_factor)."""
        features = self.features(spend, spend_unit)  # (R, K, G)
        value = deseasoned(sums, features, value, weight, self.params["shared_factor"])
        weighted = features * weight[..., None]
        return {
            "ff": (weighted * features).sum(axis=0),
            "fy": (weighted * value[..., None]).sum(axis=0),
            "yy": (weight * value * value).sum(axis=0),
            "count": weight.sum(axis=0),
        }

    def fold_report(
        self,
        stats: dict,
        spend: np.ndarray,
        value: np.ndarray,
        spend_unit: float,
        sums: dict[str, np.ndarray],
    ) -> tuple[dict, dict[str, np.ndarray], dict]:
        """The record with the finished row folded in, the terms of the rows that left it
        (each discounted for its age, divided by its day's factor in the weekly profile) for
        the running sums `sums`, and the weekly profile with those rows learnt."""
        newest = int(stats["rows"])
        n_campaigns = spend.size
        record = stats.get("reports")
        if record is None:  # statistics from before the record: every row is in the sums
            record = {**self.empty_reports(n_campaigns), "through": newest - 1}
        window = self.params["report_window"]
        record, left = fold_row(record, newest, spend, value, window)
        profile = profile_of(stats, self.params["season_period"])
        shape = (len(left), n_campaigns)
        spends, values, weights = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        rows = np.array([row for row, *_ in left], dtype=int)
        for i, (row, spent, valued, seen) in enumerate(left):
            spends[i], values[i] = spent, valued
            weights[i] = seen * self.params["discount"] ** (newest - row)
        if rows.size and int(profile["period"]) >= 2:
            predicted = predictions(sums, self.features(spends, spend_unit))
            profile = learnt(profile, rows, values, weights, predicted)
            values = values / row_factors(profile, rows)[:, None]
        return record, self.terms(spends, values, weights, spend_unit, sums), profile

    def read_young(
        self, sums: dict[str, np.ndarray], stats: dict, spend_unit: float
    ) -> dict[str, np.ndarray]:
        """`with_young` for the record, newest row and weekly profile of statistics `stats`."""
        profile = profile_of(stats, self.params["season_period"])
        newest = int(stats["rows"]) - 1
        return self.with_young(sums, stats["reports"], spend_unit, newest, profile)

    def with_young(
        self,
        sums: dict[str, np.ndarray],
        record: dict,
        spend_unit: float,
        newest: int,
        profile: dict | None = None,
    ) -> dict[str, np.ndarray]:
        """The running sums plus the record's rows up to `newest`, each divided by how
        complete it is at its age and weighed by it (and discounted for its age), and by its
        position's factor in the weekly profile `profile` if given."""
        young = young_rows(record, sums["yy"].size, newest)
        if young["age"].size == 0:
            return sums
        complete = young["completeness"]
        age = young["age"][:, None]
        weight = young["seen"] * complete * self.params["discount"] ** age
        completed = young["value"] / complete
        if profile is not None:
            completed = completed / row_factors(profile, newest - young["age"])[:, None]
        added = self.terms(young["spend"], completed, weight, spend_unit, sums)
        total = {key: sums[key] + added[key] for key in added}
        for array in total.values():
            array.flags.writeable = False
        return total
