"""The plan's integer program as HiGHS gets it: columns (a match at a node, its tier the
node's level) and rows (what is left of a kind at a node is 0 or more), solved with
lexicographic objectives: the number of matches; then same-station matches and, below
them, same-commune ones; then same-constituency. Each stage keeps the ones before at their
best."""

from __future__ import annotations

from typing import Any

import highspy
import numpy as np

# The tree's levels, closest first; a match's tier is the level of the node it is made at.
STATION, COMMUNE, CONSTITUENCY, DEPARTMENT = range(4)
INTEGRAL = 1e-6


class SolverFailed(RuntimeError):
    """HiGHS gave no optimum within its budget: the caller falls back to the greedy pass."""



class Model:
    """Columns and rows, gathered as arrays for one passModel."""

    def __init__(self) -> None:
        self.tier: list[int] = []  # a column's tier: the level of its node
        self.rows: list[int] = []  # the matrix's entries, one list a coordinate
        self.cols: list[int] = []
        self.values: list[float] = []
        self.upper: list[float] = []  # each row: at most this
        self.needs = 0  # the department's: no more matches than that

    def column(self, tier: int) -> int:
        self.tier.append(tier)
        return len(self.tier) - 1

    def row(self, terms: list[tuple[int, float]], upper: float) -> None:
        self.rows += [len(self.upper)] * len(terms)
        for col, value in terms:
            self.cols.append(col)
            self.values.append(value)
        self.upper.append(upper)


def solve(model: Model, integer: bool, time_limit: float) -> np.ndarray[Any, Any]:
    if time_limit <= 0:
        raise SolverFailed("no time left")
    columns, rows = len(model.tier), len(model.upper)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = columns, rows
    lp.col_cost_ = np.zeros(columns)
    lp.col_lower_ = np.zeros(columns)
    lp.col_upper_ = np.full(columns, highspy.kHighsInf)
    lp.row_lower_ = np.full(rows, -highspy.kHighsInf)
    lp.row_upper_ = np.array(model.upper)
    # Rows were written one after the other: the entries are already row by row.
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.concatenate(
        ([0], np.cumsum(np.bincount(np.array(model.rows, dtype=np.int64), minlength=rows))),
    ).astype(np.int32)
    lp.a_matrix_.index_ = np.array(model.cols, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(model.values, dtype=np.float64)
    if integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * columns
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", time_limit)
    h.setOptionValue("blend_multi_objectives", False)
    if not integer:
        # Primal simplex without presolve: on the bench's 108 departments 0.6-0.9 s in all,
        # against 1.3-1.8 s with the defaults (dual simplex after presolve), same optima.
        h.setOptionValue("simplex_strategy", 4)
        h.setOptionValue("presolve", "off")
    h.passModel(lp)
    tier = np.array(model.tier)
    # Matches; then same station, and among those same commune, in one objective (a station
    # match outweighs all the commune ones, which are fewer than `weight`); then same
    # constituency. HiGHS solves them in turn, each keeping the one before at its best.
    weight = float(model.needs + 1)
    stages = [(tier >= 0).astype(np.float64),
              np.where(tier == STATION, weight, 0.0) + (tier == COMMUNE),
              (tier == CONSTITUENCY).astype(np.float64)]
    for priority, coefficients in enumerate(stages):
        if not coefficients.any():  # no such match possible here: no stage for it
            continue
        objective = highspy.HighsLinearObjective()
        objective.weight, objective.offset = -1.0, 0.0  # weights are minimised: -1 maximises
        objective.coefficients = coefficients.tolist()
        objective.priority = len(stages) - priority
        objective.abs_tolerance, objective.rel_tolerance = INTEGRAL, 0.0
        h.addLinearObjective(objective)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise SolverFailed(str(h.getModelStatus()))
    return np.array(h.getSolution().col_value)
