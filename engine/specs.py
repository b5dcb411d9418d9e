"""Response curves from JSON-able specs: one campaign each, any mix of families.

A spec is `{"campaign": name, "family": f, "params": {...}}` with
- negexp `{"alpha", "mu"}`, mm `{"vmax", "k"}`, hill `{"vmax", "k", "n"}`, logistic
  `{"beta", "lam"}` (numbers);
- local_slope `{"spend": [...], "response": [...]}` (a concave piecewise-linear curve);
- ensemble `{"spend": [...], "marginal": [...]}` (a non-increasing marginal grid, as /fit
  answers it).
Campaigns of one family are stacked into one vectorized curve set. Every problem raises
EngineError naming the campaign.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from engine.ensemble import pad_grids
from engine.errors import EngineError
from engine.grid_curves import GridCurves, MarginalGridCurves
from engine.response import FAMILY_PARAMETERS, CombinedCurves, ResponseCurves, family_curves

GRID_FAMILIES = {"local_slope": ("spend", "response"), "ensemble": ("spend", "marginal")}
FAMILIES = (*FAMILY_PARAMETERS, *GRID_FAMILIES)


def _family_curves(family: str, specs: Sequence[Mapping]) -> ResponseCurves:
    names = [spec["campaign"] for spec in specs]
    if family in GRID_FAMILIES:
        first, second = GRID_FAMILIES[family]
        for spec in specs:
            params = spec["params"]
            if not all(isinstance(params.get(key), list | tuple) for key in (first, second)):
                raise EngineError(
                    f"campaign {spec['campaign']!r}: {family} needs {first} and {second} lists"
                )
        spend, values = pad_grids(
            [spec["params"][first] for spec in specs], [spec["params"][second] for spec in specs]
        )
        if family == "local_slope":
            return GridCurves(spend, values, names)
        return MarginalGridCurves(spend, values, names)
    for spec in specs:
        params = spec["params"]
        unknown = sorted(set(params) - set(FAMILY_PARAMETERS[family]))
        missing = [name for name in FAMILY_PARAMETERS[family] if name not in params]
        if unknown or missing:
            raise EngineError(
                f"campaign {spec['campaign']!r}: {family} takes parameters "
                f"{', '.join(FAMILY_PARAMETERS[family])}"
                + (f" (missing {', '.join(missing)})" if missing else "")
                + (f" (unknown {', '.join(unknown)})" if unknown else "")
            )
        if not all(isinstance(params[name], int | float) for name in FAMILY_PARAMETERS[family]):
            raise EngineError(f"campaign {spec['campaign']!r}: {family} parameters are numbers")
    try:
        return family_curves(
            family,
            {name: [spec["params"][name] for spec in specs] for name in FAMILY_PARAMETERS[family]},
        )
    except EngineError:
        for spec in specs:  # find the campaign at fault
            try:
                family_curves(family, spec["params"])
            except EngineError as error:
                raise EngineError(f"campaign {spec['campaign']!r}: {error}") from None
        raise


def curves_from_specs(specs: Sequence[Mapping]) -> tuple[list[str], ResponseCurves]:
    """Campaign names (in order) and one curve set covering them all."""
    if not specs:
        raise EngineError("at least one curve is needed")
    names = [str(spec["campaign"]) for spec in specs]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise EngineError(f"campaign {name!r} appears twice")
        seen.add(name)
    groups: dict[str, list[int]] = {}
    for position, spec in enumerate(specs):
        family = spec["family"]
        if family not in FAMILIES:
            raise EngineError(
                f"campaign {spec['campaign']!r}: unknown family {family!r} "
                f"(known: {', '.join(FAMILIES)})"
            )
        groups.setdefault(family, []).append(position)
    parts = [
        (_family_curves(family, [specs[i] for i in positions]), np.array(positions))
        for family, positions in groups.items()
    ]
    if len(parts) == 1:
        return names, parts[0][0]
    return names, CombinedCurves(parts)
