"""Marketing-mix modelling: a joint Bayesian model of a KPI from spend history.

data = load_rows(rows, kpi="revenue", controls=["price"])   # or load_csv(text, ...)
model = MarketingMixModel(seed=0).fit(data)
summary(model), decomposition(model), curves(model)            # plain data
MarketingMixModel.from_dict(model.to_dict())                    # stored and rebuilt
"""

from engine.mmm.data import MMMData, load_csv, load_rows
from engine.mmm.model import MarketingMixModel, TooFewPeriodsError

__all__ = ["MMMData", "MarketingMixModel", "TooFewPeriodsError", "load_csv", "load_rows"]
