"""What a state's read endpoints answer: its budgets with campaign names, a timestep's
metrics, and its history page. The router loads the tenant's state; these shape it."""

from __future__ import annotations

from models.common import Page
from models.money import budgets_in_cents, cents_down
from models.states import BudgetOut, CampaignBudget, HistoryRow
from utils.crud import campaigns
from utils.crud import history as history_docs
from utils.db import Store
from utils.pagination import PageParams
from utils.timesteps import check_timestep_ran, history_rows, metric_rows


def budget_answer(store: Store, state: dict) -> BudgetOut:
    """The current timestep's budgets to the cent, each with its campaign's name and
    platform (null for a campaign deleted since the run was made)."""
    amounts = budgets_in_cents(state["budgets"], state["timestep_budget"])
    known = {c["_id"]: c for c in campaigns.of_client(store, state["client_id"], list(amounts))}
    return BudgetOut(
        state_id=state["_id"],
        timestep=state["current_time"],
        timestep_budget=cents_down(state["timestep_budget"]),
        budgets=amounts,
        campaigns=[
            CampaignBudget(
                campaign_id=cid,
                name=known.get(cid, {}).get("name"),
                platform=known.get(cid, {}).get("platform"),
                budget=amount,
            )
            for cid, amount in amounts.items()
        ],
    )


def metrics_of(store: Store, state: dict, timestep: int | None) -> dict:
    """A timestep's reported metrics per campaign; by default the current timestep (a
    completed state's last one)."""
    if timestep is None:
        completed = state["status"] == "completed"
        timestep = state["current_time"] - 1 if completed else state["current_time"]
    check_timestep_ran(state, timestep)
    return metric_rows(store, state, timestep)


def history_page(store: Store, state: dict, page: PageParams) -> Page:
    """One page of the state's finished timesteps, each row with its campaigns' names."""
    names = {
        campaign["_id"]: campaign["name"]
        for campaign in campaigns.of_client(store, state["client_id"], state["campaign_ids"])
    }
    return history_docs.page_for(
        store,
        state,
        page,
        render=lambda row: HistoryRow(**row, names=names),
        join=lambda rows: history_rows(store, state, rows),
    )
