"""The exact plan of some departments (`optimal`, one department at a time), made in a
worker thread from the pass's snapshot. A department the solver fails, or that the pass's
time budget leaves no time for, is left to the greedy matcher, with the reason for the log.
HiGHS solves one department (in a thread of its own: it lets go of the GIL) while the next
one's model is built."""

from __future__ import annotations

import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from storage.proxies.greedy import Matcher, OpenOffer, OpenRequest
from storage.proxies.lexicographic import SolverFailed
from storage.proxies.optimal import Department, Outcome
from storage.proxies.pass_reads import Planned


def plan_area(needs: list[OpenRequest], matcher: Matcher, budget_s: float) -> Planned:
    """The best pairs of each department's needs among its holders, within `budget_s`."""
    planned = Planned()
    holders_in: dict[str, list[OpenOffer]] = defaultdict(list)
    for offer in matcher.offers:
        holders_in[offer.department].append(offer)
    needs_in: dict[str, list[OpenRequest]] = defaultdict(list)
    for need in needs:
        needs_in[need.department].append(need)
    deadline = time.monotonic() + budget_s

    def finish(department: str, model: Department, here: list[OpenRequest],
               holders: list[OpenOffer], solving: Future[tuple[Any, Outcome]]) -> None:
        try:
            plan = model.plan(solving.result())
        except Exception as failed:  # a plan that fails, whatever the cause: greedy there
            planned.greedy[department] = (str(failed) if isinstance(failed, SolverFailed)
                                          else repr(failed))
            return
        planned.outcomes[plan.outcome.value] += 1
        planned.pairs += [(here[i].id, holders[j].id) for i, j in plan.pairs]
        planned.considered.update(need.id for need in here)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="proxy-plan") as solver:
        pending: tuple[Any, ...] | None = None
        for department, here in needs_in.items():
            if time.monotonic() >= deadline:
                planned.greedy[department] = "the pass's time budget is spent"
                continue
            holders = holders_in.get(department, [])
            try:
                model = Department(here, holders, [matcher.room(offer) for offer in holders],
                                   _apart(here, holders, matcher.tried))
            except Exception as failed:  # as for a plan that fails
                planned.greedy[department] = repr(failed)
                continue
            solving = solver.submit(model.solve, deadline - time.monotonic())
            if pending is not None:
                finish(*pending)
            pending = (department, model, here, holders, solving)
        if pending is not None:
            finish(*pending)
    return planned


def _apart(needs: list[OpenRequest], holders: list[OpenOffer],
           tried: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pairs of this department that may not meet: proposed before, or one person."""
    need_at = {need.id: i for i, need in enumerate(needs)}
    holder_at = {holder.id: j for j, holder in enumerate(holders)}
    apart = [(need_at[n], holder_at[o]) for n, o in tried if n in need_at and o in holder_at]
    holders_of: dict[int, list[int]] = defaultdict(list)
    for j, holder in enumerate(holders):
        if holder.user_id is not None:
            holders_of[holder.user_id].append(j)
    apart += [(i, j) for i, need in enumerate(needs) if need.user_id is not None
              for j in holders_of.get(need.user_id, [])]
    return apart
