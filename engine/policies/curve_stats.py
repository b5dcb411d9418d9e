"""What the `curve` policy's statistics need for a run that changes while it runs.

The curve sums are kept in spend units of an equal share of the timestep budget. A run whose
budget, timesteps or campaigns change mid-run would change that unit under sums made with the
old one, so the unit is frozen into the statistics (`spend_unit`) and read from there.

A warm start (engine.warm) adds a `prior`: sums of pseudo-observations read off known response
curves (and `value`, their value per campaign, which sets the run's value unit), fading with a
`half_life` in timesteps of the run, kept apart from the sums of observations, so that a refold
(a late correction) folds the observations again from the same prior, and resizing reindexes
both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from engine.packing import pack, unpack
from engine.policies.report_ages import resized_record

SUM_KEYS = ("ff", "fy", "yy", "count")
_GRIDS = ("ff", "fy")


def _reindexed(rows: np.ndarray, keep: Sequence[int | None]) -> np.ndarray:
    """Rows of `rows` in the order of `keep`, a row of zeros where `keep` is None."""
    out = np.zeros((len(keep), *rows.shape[1:]))
    for new, old in enumerate(keep):
        if old is not None:
            out[new] = rows[old]
    return out


class CurveStats:
    """Mixin of the `curve` policy: frozen spend unit, prior sums, resizing."""

    grid_scales: np.ndarray

    def spend_unit_of(self, stats: Mapping, settings: Mapping, n_campaigns: int) -> float:
        """The spend unit the sums were made in: frozen in `stats`, or (statistics made before
        it was kept) an equal share of the timestep budget under `settings`."""
        unit = stats.get("spend_unit")
        if unit is None:
            return settings["budget"] / settings["timesteps"] / n_campaigns
        return float(unit)

    @staticmethod
    def carried(stats: Mapping) -> dict:
        """What a step carries over unchanged besides the sums: the frozen unit and the prior."""
        return {key: stats[key] for key in ("spend_unit", "prior") if key in stats}

    def unpack_sums(self, sums: Mapping, n_campaigns: int) -> dict[str, np.ndarray]:
        """Packed sums (grids K x G, the rest K) as arrays."""
        grid_shape = (n_campaigns, self.grid_scales.size)
        return {
            "ff": unpack(sums["ff"], grid_shape),
            "fy": unpack(sums["fy"], grid_shape),
            "yy": np.asarray(sums["yy"], dtype=float),
            "count": np.asarray(sums["count"], dtype=float),
        }

    @staticmethod
    def pack_sums(sums: Mapping[str, np.ndarray]) -> dict:
        """Array sums packed as they are stored."""
        return {
            "ff": pack(sums["ff"]),
            "fy": pack(sums["fy"]),
            "yy": np.asarray(sums["yy"], dtype=float).tolist(),
            "count": np.asarray(sums["count"], dtype=float).tolist(),
        }

    def with_prior(
        self, sums: Mapping[str, np.ndarray], stats: Mapping, n_campaigns: int
    ) -> tuple[dict[str, np.ndarray], float, float]:
        """The observation sums plus the prior's, and the value total and cells, prior
        included (those set the run's value unit)."""
        value_total = float(stats["value_total"])
        value_cells = float(stats["value_cells"])
        prior = stats.get("prior")
        if prior is None:
            return dict(sums), value_total, value_cells
        extra = self.unpack_sums(prior, n_campaigns)
        # The prior fades as the run's own timesteps come in: halved every `half_life` of them.
        fade = 0.5 ** (stats["rows"] / prior["half_life"])
        total = {key: sums[key] + fade * extra[key] for key in SUM_KEYS}
        values = fade * math.fsum(prior["value"])
        return total, value_total + values, value_cells + fade * extra["count"].sum()

    def resize_stats(self, stats: dict, keep: Sequence[int | None], n_old: int) -> dict:
        """Sums (and prior) reindexed by campaign; an added campaign has observed nothing, so
        its posterior is the grid prior the policy pools from every other campaign."""
        resized = dict(stats)
        sums = self.unpack_sums(stats, n_old)
        resized.update(self.pack_sums({key: _reindexed(sums[key], keep) for key in SUM_KEYS}))
        prior = stats.get("prior")
        if prior is not None:
            old = self.unpack_sums(prior, n_old)
            moved = self.pack_sums({key: _reindexed(old[key], keep) for key in SUM_KEYS})
            value = _reindexed(np.asarray(prior["value"], dtype=float), keep)
            resized["prior"] = {**prior, **moved, "value": value.tolist()}
        if "reports" in stats:
            resized["reports"] = resized_record(stats["reports"], keep)
        return resized

    def settled_stats(self, stats: dict, settings: Mapping, n_campaigns: int) -> dict:
        """`stats` with their spend unit frozen, before the settings or campaigns change."""
        return {**stats, "spend_unit": self.spend_unit_of(stats, settings, n_campaigns)}

    def refold_base(self, stats: Mapping, n_campaigns: int, settings: Mapping) -> dict:
        """Empty sums, in the unit and under the prior of `stats`."""
        base = self.initial_stats(n_campaigns, settings)  # type: ignore[attr-defined]
        base["spend_unit"] = self.spend_unit_of(stats, settings, n_campaigns)
        if "prior" in stats:
            base["prior"] = stats["prior"]
        # The rows' first reports and what was learnt of their ages: folded again, not anew.
        if "reports" in stats:
            base["reports"] = stats["reports"]
        return base
