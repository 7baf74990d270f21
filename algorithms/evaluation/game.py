"""The shared game: a symmetric two-player constant-sum game between policies.

Two policies play; a judge says who won. An outcome is the first policy's score: 1 win, ½ draw or
time-out, 0 loss, so `E[outcome(a, b)] + E[outcome(b, a)] = 1` and `E[outcome(a, a)] = ½`.

A *policy* is a pytree of parameters used with an apply function. A *population* is the same pytree
with every leaf stacked along a leading axis [P, ...] (`stack`), so a row of a payoff matrix is one
`vmap` over the population, never a Python loop over policies.

Games (`MatrixGame`, `BattleGame`, `preference.PreferenceGame`) share one interface, the `Game`
base class, used by `algorithms.evaluation`:

    game.play(key, a, b, n)                          -> float32[n]      (n static)
    game.play_matrix(key, population_a, population_b, n) -> float32[Pa, Pb, n]   one compiled call
    game.play_pairs(key, population, rows, cols, n)  -> float32[K, n]   pairs (rows[k], cols[k])

The games of cell (i, j) of `play_matrix` and of pair (i, j) of `play_pairs` are those of
`play(pair_key(key, i, j), population[i], population[j], n)`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import gigastep_jax as gj
from algorithms import validate

Params = Any
RESET_FOLD = 2**31 - 1  # reset key = fold_in(game_key, RESET_FOLD); step t uses fold_in(game_key, t)
ApplyFn = Callable[[Params, jax.Array, gj.Env, gj.EnvState], jax.Array]


# ----------------------------------------------------------------------------- populations
def population_size(population: Params) -> int:
    """P, the common leading size of every leaf; ValueError for an empty or mismatched population."""
    if not jax.tree_util.tree_leaves(population):
        raise ValueError("empty population: a population is a pytree of arrays stacked along a leading axis [P, ...]")
    sizes = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(population)[0]:
        shape = np.shape(leaf)
        where = jax.tree_util.keystr(path) or "<root>"
        if len(shape) == 0:
            raise ValueError(f"population leaf {where} is a scalar: every leaf needs a leading population axis [P, ...]")
        sizes[where] = shape[0]
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{k}: {v}" for k, v in sizes.items())
        raise ValueError(f"mismatched population: leaves have different leading sizes ({listed}); "
                         f"stack policies with equal trees")
    size = next(iter(sizes.values()))
    if size == 0:
        raise ValueError("empty population: leaves have leading size 0 (at least one policy is needed)")
    return int(size)


def stack(policies: Sequence[Params]) -> Params:
    """A population from a list of policies with the same tree structure and leaf shapes."""
    if len(policies) == 0:
        raise ValueError("empty population: stack() needs at least one policy")
    structures = {jax.tree_util.tree_structure(p) for p in policies}
    if len(structures) > 1:
        raise ValueError(f"mismatched parameter trees: policies have {len(structures)} different tree structures")
    try:
        return jax.tree_util.tree_map(lambda *leaves: jnp.stack([jnp.asarray(x) for x in leaves]), *policies)
    except (ValueError, TypeError) as e:  # leaves of different shapes
        raise ValueError(f"mismatched parameter trees: leaves differ in shape ({e})") from None


def member(population: Params, i) -> Params:
    """Policy i of a population (i may be traced)."""
    return jax.tree_util.tree_map(lambda a: a[i], population)


def pair_key(key: jax.Array, i, j) -> jax.Array:
    """The key of the games between policies i and j (row i, column j) of a matrix."""
    return jax.random.fold_in(jax.random.fold_in(key, i), j)


def _check_n(n) -> int:
    return validate.integer("the number of games n", n, 1)


def _matrix_of(play_one: Callable, key, population_a, population_b) -> jax.Array:
    """float32[Pa, Pb, n]: nested vmap of `play_one(key, a, b)` over both populations."""
    pa, pb = population_size(population_a), population_size(population_b)

    def row(i, a):
        return jax.vmap(lambda j, b: play_one(pair_key(key, i, j), a, b))(jnp.arange(pb), population_b)

    return jax.vmap(row)(jnp.arange(pa), population_a)


def _pairs_of(play_one: Callable, key, population, rows, cols) -> jax.Array:
    """float32[K, n]: vmap of `play_one` over the pairs (rows[k], cols[k]) of one population."""

    def one(i, j):
        return play_one(pair_key(key, i, j), member(population, i), member(population, j))

    return jax.vmap(one)(rows, cols)


def _check_pairs(population, rows, cols) -> tuple[jax.Array, jax.Array]:
    size = population_size(population)
    rows, cols = np.asarray(rows, np.int64).reshape(-1), np.asarray(cols, np.int64).reshape(-1)
    if rows.shape != cols.shape:
        raise ValueError(f"rows and cols must have the same length, got {rows.size} and {cols.size}")
    for name, idx in (("rows", rows), ("cols", cols)):
        if idx.size and (idx.min() < 0 or idx.max() >= size):
            raise ValueError(f"{name} index out of range for a population of {size}: {idx.min()}..{idx.max()}")
    return jnp.asarray(rows, jnp.int32), jnp.asarray(cols, jnp.int32)


# ----------------------------------------------------------------------------- the interface
class Game:
    """The interface every game shares, built on one method a subclass defines:
    `_play_one(key, a, b, n) -> float32[n]`, a's outcomes in n games (traceable, n static).

    `play`, `play_matrix` and `play_pairs` check their input at the edge and run one compiled
    call each; `_check_population(population)` (identity here) lets a game validate or convert
    its policies.
    """

    def __init__(self):
        self._play = jax.jit(self._play_one, static_argnums=3)
        self._matrix = jax.jit(self._play_matrix, static_argnums=3)
        self._pairs = jax.jit(self._play_pairs, static_argnums=4)

    def _play_one(self, key, a, b, n: int) -> jax.Array:
        raise NotImplementedError

    def _check_population(self, population):
        population_size(population)
        return population

    def _play_matrix(self, key, population_a, population_b, n: int):
        return _matrix_of(lambda k, a, b: self._play_one(k, a, b, n), key, population_a, population_b)

    def _play_pairs(self, key, population, rows, cols, n: int):
        return _pairs_of(lambda k, a, b: self._play_one(k, a, b, n), key, population, rows, cols)

    def play(self, key, a, b, n: int) -> jax.Array:
        """float32[n]: a's outcomes in n games against b."""
        return self._play(key, a, b, _check_n(n))

    def play_matrix(self, key, population_a, population_b, n: int) -> jax.Array:
        """float32[Pa, Pb, n]: every policy of population_a against every one of population_b, all
        pairs in one compiled call; cell (i, j) plays `play(pair_key(key, i, j), a_i, b_j, n)`."""
        population_a, population_b = self._check_population(population_a), self._check_population(population_b)
        _check_same_structure(population_a, population_b)
        return self._matrix(key, population_a, population_b, _check_n(n))

    def play_pairs(self, key, population, rows, cols, n: int) -> jax.Array:
        """float32[K, n]: policy rows[k] against policy cols[k] of one population, one compiled call."""
        population = self._check_population(population)
        rows, cols = _check_pairs(population, rows, cols)
        return self._pairs(key, population, rows, cols, _check_n(n))


# ----------------------------------------------------------------------------- matrix game
class MatrixGame(Game):
    """A symmetric game given by its payoff matrix: policy i beats j with probability payoff[i, j].

    payoff: float[P, P], entries in [0, 1], payoff + payoff.T = 1 (checked by
    `ratings.check_payoff(..., symmetric=True)`). A policy is a pure strategy, an int32 index; the
    population of all strategies is `game.population()` (int32[P]). `play(key, i, j, n)`: 1 with
    probability payoff[i, j], else 0; i, j may be traced ints.
    """

    def __init__(self, payoff, names: Sequence[str] | None = None):
        from algorithms.evaluation.checks import check_payoff

        payoff = np.asarray(payoff, np.float64)
        check_payoff(payoff, symmetric=True)
        self.payoff = payoff
        self.size = payoff.shape[0]
        if names is not None and len(names) != self.size:
            raise ValueError(f"names: expected {self.size} names, got {len(names)}")
        self.names = tuple(names) if names is not None else tuple(str(i) for i in range(self.size))
        self._payoff = jnp.asarray(payoff, jnp.float32)
        super().__init__()

    def population(self) -> jax.Array:
        """int32[P]: every pure strategy."""
        return jnp.arange(self.size, dtype=jnp.int32)

    def _play_one(self, key, i, j, n: int) -> jax.Array:
        return jax.random.bernoulli(key, self._payoff[i, j], (n,)).astype(jnp.float32)

    def _check_population(self, population):
        population = jnp.asarray(population)
        if population.ndim != 1 or not jnp.issubdtype(population.dtype, jnp.integer):
            raise ValueError(f"a MatrixGame population is an int array [P] of strategy indices, got "
                             f"{population.dtype}{list(population.shape)}")
        population_size(population)
        values = np.asarray(population)
        if values.min() < 0 or values.max() >= self.size:
            raise ValueError(f"strategy index out of range 0..{self.size - 1}: {values.min()}..{values.max()}")
        return population.astype(jnp.int32)


# ----------------------------------------------------------------------------- battle game
class BattleGame(Game):
    """Two team policies play full Gigastep battles.

    `apply_fn(params, key, env, state) -> action` for all N agents (int32[N] or float32[N, 3]), the
    signature of `gj.policies.*` plus params; the game keeps the rows of the agents on the policy's
    side. A policy that needs observations computes them: `env.observe(key, state)` (the game itself
    steps with `env.transition` and observes nothing).

    In `play(key, a, b, n)` game g puts policy a on team A when g is even and on team B when g is odd,
    so sides cancel (for odd n, a has team A once more). The outcome is a's: 1 if a's team won, 0 if
    b's won, ½ for a draw or time-out (also for an episode still running after `max_steps`).

    Every episode runs to its end: the batch is stepped until all its episodes are over (finished
    ones are absorbing and change no more) or `max_steps` steps passed. `early_exit=False` runs a
    fixed-length masked `lax.scan` of `max_steps` steps instead; outcomes are identical (the step
    keys are `fold_in(game_key, t)`), early exit only skips steps in which nothing can change.

    Policies with memory (a GRU): give `apply_fn` an attribute `initial_memory(params) -> memory`
    (one game's); it is then called as `apply_fn(params, key, env, state, memory) -> (action, memory)`
    and each side's memory is carried through its games.
    """

    def __init__(self, env: gj.Env, apply_fn: ApplyFn, max_steps: int | None = None, *, early_exit: bool = True,
                 batch: int = 2048):
        self.env = env
        # play_matrix / play_pairs step about this many games at once (games per cell = batch / cells):
        # a cell's games queue for its slots, so a batch never waits on one long game.
        self.batch = validate.integer("batch", batch, 1)
        self.apply_fn = apply_fn
        self.max_steps = validate.integer("max_steps", env.scenario.max_steps if max_steps is None else max_steps, 1)
        self.early_exit = bool(early_exit)
        self.initial_memory = getattr(apply_fn, "initial_memory", None)
        # int32[2, M]: each team's agent indices, the smaller team padded with N (dropped on write)
        teams = np.asarray(env.teams)
        size = max(int((teams == 0).sum()), int((teams == 1).sum()))
        self._team_rows = np.full((2, size), env.n_agents, np.int32)
        for t in (0, 1):
            idx = np.flatnonzero(teams == t)
            self._team_rows[t, : idx.size] = idx
        self._rollout = jax.jit(self._rollout_impl, static_argnums=3)
        super().__init__()

    # -- one batch of games between two policies
    def _joint_action(self, key, state, params_a, params_b, side_a, memory):
        """The N agents' action: a's rows on team `side_a`, b's on the other team; memory (a's, b's)."""
        act_rows = getattr(self.apply_fn, "act_rows", None)
        if act_rows is not None:
            # Observe once, and run each side's policy on its own team's rows only: half the
            # network work and one observation per step instead of two (the same policies).
            k_obs, k_a, k_b = jax.random.split(key, 3)
            obs = self.env.observe(k_obs, state)
            rows = jnp.asarray(self._team_rows)
            rows_a, rows_b = rows[side_a], rows[1 - side_a]
            mem_a, mem_b = (None, None) if self.initial_memory is None else memory
            act_a, mem_a = act_rows(params_a, k_a, self.env, state, obs, rows_a, mem_a)
            act_b, mem_b = act_rows(params_b, k_b, self.env, state, obs, rows_b, mem_b)
            action = jnp.zeros(self.env.action_shape, act_a.dtype)
            action = action.at[rows_a].set(act_a, mode="drop").at[rows_b].set(act_b, mode="drop")
            return action, (memory if self.initial_memory is None else (mem_a, mem_b))
        k_a, k_b = jax.random.split(key)
        if self.initial_memory is None:
            act_a = self.apply_fn(params_a, k_a, self.env, state)
            act_b = self.apply_fn(params_b, k_b, self.env, state)
        else:
            act_a, mem_a = self.apply_fn(params_a, k_a, self.env, state, memory[0])
            act_b, mem_b = self.apply_fn(params_b, k_b, self.env, state, memory[1])
            memory = (mem_a, mem_b)
        mine = self.env.teams == side_a
        return jnp.where(mine.reshape((-1,) + (1,) * (act_a.ndim - 1)), act_a, act_b), memory

    def _step_all(self, keys, states, memory, t, params_a, params_b, sides):
        """One step of every game of the batch; keys: key[B] of the games, t: int32[]."""
        env = self.env

        def one(key, state, mem, side):
            k = jax.random.fold_in(key, t)
            k_act, k_env = jax.random.split(k)
            action, mem = self._joint_action(k_act, state, params_a, params_b, side, mem)
            return env.transition(k_env, state, action)[0], mem

        return jax.vmap(one)(keys, states, memory, sides)

    def _rollout_impl(self, key, params_a, params_b, n: int) -> dict[str, jax.Array]:
        env = self.env
        keys = jax.random.split(key, n)
        sides = jnp.arange(n, dtype=jnp.int32) % 2  # a on team A in even games, on team B in odd ones
        states = jax.vmap(lambda k: env.reset_state(jax.random.fold_in(k, RESET_FOLD)))(keys)
        if self.initial_memory is None:
            memory = (jnp.zeros(n), jnp.zeros(n))  # unused
        else:
            one = lambda p: jax.tree_util.tree_map(lambda m: jnp.broadcast_to(m, (n,) + m.shape),  # noqa: E731
                                                   self.initial_memory(p))
            memory = (one(params_a), one(params_b))

        def step(carry):
            states, memory, t = carry
            states, memory = self._step_all(keys, states, memory, t, params_a, params_b, sides)
            return states, memory, t + 1

        if self.early_exit:
            def running(carry):
                states, _, t = carry
                return (t < self.max_steps) & ~jax.vmap(env.episode_over)(states).all()

            states, _, steps = jax.lax.while_loop(running, step, (states, memory, jnp.int32(0)))
        else:
            def body(carry, _):
                return step(carry), None

            (states, _, steps), _ = jax.lax.scan(body, (states, memory, jnp.int32(0)), None, length=self.max_steps)
        terminated, truncated, winner = jax.vmap(env.outcome)(states)
        outcome = jnp.where(winner == sides, 1.0, jnp.where(winner == 1 - sides, 0.0, 0.5)).astype(jnp.float32)
        return dict(outcome=outcome, side_a=sides, winner=winner, length=states.t,
                    over=terminated | truncated, steps=steps)

    def _queued_impl(self, key, params_a, params_b, n: int, slots: int) -> dict[str, jax.Array]:
        """The n games of `_rollout_impl`, `slots` at a time: a slot whose game ends takes the next
        one, so the batch is not held until its longest game ends. Each game keeps its own key and
        its own step count t, so every game is the one `_rollout_impl` plays (same outcome, winner
        and length); only how many are stepped together changes."""
        env = self.env
        keys = jax.random.split(key, n)
        sides = jnp.arange(n, dtype=jnp.int32) % 2
        none = jnp.int32(n)  # the game index of an idle slot (writes to it are dropped)

        def fresh(g):
            state = env.reset_state(jax.random.fold_in(keys[jnp.minimum(g, n - 1)], RESET_FOLD))
            if self.initial_memory is None:
                return state, (jnp.zeros(()), jnp.zeros(()))
            return state, (self.initial_memory(params_a), self.initial_memory(params_b))

        game = jnp.arange(slots, dtype=jnp.int32)
        states, memory = jax.vmap(fresh)(game)
        results = dict(winner=jnp.full(n, -1, jnp.int32), length=jnp.zeros(n, jnp.int32), over=jnp.zeros(n, bool))

        def step(carry):
            states, memory, game, t, started, results, steps = carry
            g = jnp.minimum(game, n - 1)
            states, memory = self._step_slots(keys[g], states, memory, t, params_a, params_b, sides[g])
            t = t + 1
            terminated, truncated, winner = jax.vmap(env.outcome)(states)
            done = (game < n) & (terminated | truncated | (t >= self.max_steps))
            slot = jnp.where(done, game, none)
            results = dict(winner=results["winner"].at[slot].set(winner, mode="drop"),
                           length=results["length"].at[slot].set(states.t, mode="drop"),
                           over=results["over"].at[slot].set(terminated | truncated, mode="drop"))
            nxt = started + jnp.cumsum(done) - 1  # the games the finished slots start next
            game = jnp.where(done, jnp.where(nxt < n, nxt, none), game).astype(jnp.int32)
            new_states, new_memory = jax.vmap(fresh)(game)
            states = jax.tree_util.tree_map(lambda a, b: _where_rows(done, a, b), new_states, states)
            memory = jax.tree_util.tree_map(lambda a, b: _where_rows(done, a, b), new_memory, memory)
            return states, memory, game, jnp.where(done, 0, t), started + done.sum(), results, steps + 1

        carry = (states, memory, game, jnp.zeros(slots, jnp.int32), jnp.int32(slots), results, jnp.int32(0))
        carry = jax.lax.while_loop(lambda c: (c[2] < n).any(), step, carry)
        results, steps = carry[5], carry[6]
        winner = results["winner"]
        outcome = jnp.where(winner == sides, 1.0, jnp.where(winner == 1 - sides, 0.0, 0.5)).astype(jnp.float32)
        return dict(outcome=outcome, side_a=sides, winner=winner, length=results["length"], over=results["over"],
                    steps=steps)

    def _step_slots(self, keys, states, memory, t, params_a, params_b, sides):
        """`_step_all` with a step count per slot (t int32[S])."""
        env = self.env

        def one(key, state, mem, t, side):
            k_act, k_env = jax.random.split(jax.random.fold_in(key, t))
            action, mem = self._joint_action(k_act, state, params_a, params_b, side, mem)
            return env.transition(k_env, state, action)[0], mem

        return jax.vmap(one)(keys, states, memory, t, sides)

    def _play_one(self, key, params_a, params_b, n: int, slots: int | None = None) -> jax.Array:
        if self.early_exit and slots is not None and slots < n:
            return self._queued_impl(key, params_a, params_b, n, slots)["outcome"]
        return self._rollout_impl(key, params_a, params_b, n)["outcome"]

    def _slots(self, cells: int, n: int) -> int:
        """Games per cell stepped at once: about `batch` games in all across the cells."""
        return int(min(n, max(1, -(-self.batch // cells))))

    def _play_matrix(self, key, population_a, population_b, n: int):
        slots = self._slots(population_size(population_a) * population_size(population_b), n)
        return _matrix_of(lambda k, a, b: self._play_one(k, a, b, n, slots), key, population_a, population_b)

    def _play_pairs(self, key, population, rows, cols, n: int):
        slots = self._slots(int(rows.shape[0]), n)
        return _pairs_of(lambda k, a, b: self._play_one(k, a, b, n, slots), key, population, rows, cols)

    # -- public
    def rollout(self, key, params_a, params_b, n: int) -> dict[str, np.ndarray]:
        """Everything about n games of a against b: outcome float32[n] (a's), side_a int32[n] (a's
        team), winner int32[n] (0 A, 1 B, -1 none), length int32[n] (steps played), over bool[n],
        steps int (steps the batch was stepped)."""
        return {k: np.asarray(v) for k, v in self._rollout(key, params_a, params_b, _check_n(n)).items()}

def _where_rows(mask: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    """where(mask[s], a[s], b[s]) row by row, mask bool[S] against leaves [S, ...]."""
    return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)


def _check_same_structure(a, b) -> None:
    sa, sb = jax.tree_util.tree_structure(a), jax.tree_util.tree_structure(b)
    if sa != sb:
        raise ValueError(f"mismatched parameter trees between the two populations: {sa} vs {sb}")
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        if np.shape(x)[1:] != np.shape(y)[1:]:
            raise ValueError(f"mismatched parameter trees: leaf shapes {np.shape(x)[1:]} vs {np.shape(y)[1:]} per policy")
