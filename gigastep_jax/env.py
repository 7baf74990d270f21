"""`Env`: reset, step and observe for one environment, built from a `Scenario`.

The rules live in `dynamics.py` and the observations in `observe/`; this module wires them
together, checks input at the API edge, computes rewards and the outcome. Everything is a pure
function of (key, state, action, params), so `jax.jit` and `jax.vmap` apply directly.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np

from gigastep_jax import dynamics as dyn
from gigastep_jax import observe, rng, spaces
from gigastep_jax.maps import map_table
from gigastep_jax.neighbours import Grid, Pairs, candidates, compact
from gigastep_jax.state import EnvParams, EnvState, Scenario

N_DISCRETE_ACTIONS = 27
NO_CONTROL = 13  # the discrete action (0, 0, 0); what an invalid discrete action does under jit
SPAWN_REDRAWS = 3  # Gigastep re-draws clashing spawns this many times
DEATH_ARENA, DEATH_COLLISION, DEATH_OBSTACLE, DEATH_DAMAGE = 1, 2, 3, 4  # info["death_cause"] codes


class Env:
    """A Gigastep team battle. Agents 0..n_team_a-1 are team A, the rest team B.

    obs, state = env.reset(key)                       # obs [N, *obs_shape]
    obs, state, reward, done, info = env.step(key, state, action)
        action: int32[N] in 0..26 (discrete) or float32[N, 3] in [-1, 1] (continuous; values outside
        are clipped); reward float32[N]; done bool[N] (agent dead or episode over);
        info: terminated bool[] (a team is wiped out), truncated bool[] (time limit),
        winner int32[] (0 team A, 1 team B, -1 draw or none yet), death_cause int32[N] (0 alive or
        dead before, 1 left the arena, 2 collision, 3 obstacle, 4 damage), invalid_action bool[N]
        (an index outside 0..26 or a non-finite control: an error eagerly, no control under jit;
        see `check_action`).
    Once an episode is over its state is absorbing: stepping it again changes nothing and pays 0.
    """

    def __init__(self, scenario: Scenario, params: EnvParams):
        self.scenario = scenario
        self.params = params
        self.maps = map_table(scenario.maps, scenario.arena)
        self._team = np.asarray(scenario.team, np.int32)
        self._sprite = np.asarray(scenario.sprite, np.int32)
        if scenario.obs_kind == "rgb":
            self._background = observe.map_images(self.maps.boxes, scenario.arena, scenario.resolution)
        if scenario.local_pairs:
            self._grid = Grid.for_arena(scenario.arena, scenario.sight_radius, scenario.window)

    # ----------------------------------------------------------------------------- properties
    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def n_agents(self) -> int:
        return self.scenario.n_agents

    @property
    def teams(self) -> jax.Array:
        """int32[N]: 0 for team A, 1 for team B."""
        return jnp.asarray(self._team)

    @property
    def discrete(self) -> bool:
        return self.scenario.discrete

    @property
    def n_actions(self) -> int:
        """27 for discrete scenarios; for continuous ones the action is float32[3] per agent."""
        return N_DISCRETE_ACTIONS if self.discrete else 3

    @property
    def action_shape(self) -> tuple[int, ...]:
        return (self.n_agents,) if self.discrete else (self.n_agents, 3)

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """Per agent: (F,) float32 vector or (R, R, 3) uint8 image."""
        if self.scenario.obs_kind == "rgb":
            r = self.scenario.resolution
            return (r, r, 3)
        return (self.vector_layout.size,)

    @property
    def vector_layout(self) -> observe.VectorLayout:
        """Where the agent rows, waypoint and boxes sit in a vector observation (read rows by
        `observe.RowFeature`); ValueError for an RGB scenario."""
        return observe.vector_layout(self.scenario, self.maps.max_boxes)

    @property
    def default_params(self) -> EnvParams:
        """The scenario's tunable numbers (gymnax's name; the same object as `params`)."""
        return self.params

    def action_space(self, params: EnvParams | None = None, *, team: bool = False):
        """One agent's action: `spaces.Discrete(27)` or `spaces.Box(-1, 1, (3,))`; with `team`, the
        action of all N agents, as `step` takes it. `params` is accepted for gymnax's signature (the
        space does not depend on it)."""
        if self.discrete:
            return spaces.Box(0, N_DISCRETE_ACTIONS - 1, (self.n_agents,), jnp.int32) if team \
                else spaces.Discrete(N_DISCRETE_ACTIONS)
        return spaces.Box(-1.0, 1.0, (self.n_agents, 3) if team else (3,), jnp.float32)

    def observation_space(self, params: EnvParams | None = None, *, team: bool = False):
        """One agent's observation: a float32 vector (unbounded) or a uint8 image in 0..255; with
        `team`, the observations of all N agents [N, ...], as `reset` and `step` return them."""
        shape = ((self.n_agents,) if team else ()) + tuple(self.obs_shape)
        if self.scenario.obs_kind == "rgb":
            return spaces.Box(0, 255, shape, jnp.uint8)
        return spaces.Box(-np.inf, np.inf, shape, jnp.float32)

    @property
    def obs_dtype(self):
        return jnp.uint8 if self.scenario.obs_kind == "rgb" else jnp.float32

    @property
    def global_state_size(self) -> int:
        s = self.scenario
        return observe.GLOBAL_FEATURES * s.n_agents + (5 if s.waypoints else 0) + 4 * self.maps.max_boxes

    def __repr__(self) -> str:
        s = self.scenario
        return f"Env({s.name!r}, agents={s.n_team_a}v{s.n_team_b}, obs={self.obs_shape}, actions={self.n_actions})"

    # ----------------------------------------------------------------------------- reset
    def reset(self, key: chex.PRNGKey, params: EnvParams | None = None) -> tuple[jax.Array, EnvState]:
        """A fresh episode: map drawn uniformly, agents spawned in their team's box."""
        params = self.params if params is None else params
        state = self.reset_state(key, params)
        return self.observe(key, state, params), state  # distinct `rng` streams: no split needed

    def reset_state(self, key: chex.PRNGKey, params: EnvParams | None = None) -> EnvState:
        """The state of a fresh episode without its observation (cheap: no pairwise work but a
        spawn-collision check)."""
        params = self.params if params is None else params
        n = self.n_agents
        team = self.teams
        map_idx = rng.randint(key, (), self.maps.n_maps, rng.STREAM_MAP)
        spawn = jnp.asarray(self.maps.spawn)[map_idx][team]  # [N, 4]
        boxes = jnp.asarray(self.maps.boxes)[map_idx]
        u = rng.uniform(key, (1 + SPAWN_REDRAWS, n, 2), rng.STREAM_SPAWN)  # placement and re-draws
        xs = spawn[:, 0] + u[..., 0] * (spawn[:, 2] - spawn[:, 0])  # [1 + redraws, N]
        ys = spawn[:, 1] + u[..., 1] * (spawn[:, 3] - spawn[:, 1])
        x, y = xs[0], ys[0]
        z = jnp.zeros(n, jnp.float32)  # Gigastep spawns every agent at altitude 0
        # Re-draw agents spawned too close to another or to a box (Gigastep's 3 times and margin).
        margin = 0.1
        grown = boxes + jnp.asarray([-margin, -margin, margin, margin])
        everyone = jnp.ones(n, bool)
        for i in range(1, 1 + SPAWN_REDRAWS):
            pairs, _ = self._pairs(x, y, everyone)
            _, _, _, d2, _ = dyn.pair_geometry(x, y, x, x, x, pairs)
            clash = (d2 < jnp.square(params.collision_range) + margin) & pairs.other()
            bad = clash.any(axis=1) | dyn.in_boxes(x, y, grown)
            x, y = jnp.where(bad, xs[i], x), jnp.where(bad, ys[i], y)
        heading = dyn.wrap_angle(jnp.asarray(self.maps.heading)[map_idx][team])  # pi -> -pi
        alive = jnp.ones(n, bool)
        # The first observation shows what is detected at spawn (Gigastep showed no enemy at t=0).
        pairs, _ = self._pairs(x, y, alive)
        dx, dy, _, d2, cos_b = dyn.pair_geometry(x, y, z, jnp.cos(heading), jnp.sin(heading), pairs)
        detected = dyn.detection(key, d2, cos_b, alive, team, params, self.scenario.observability == "pobs", pairs)
        slots = self.scenario.max_targets if self.scenario.local_pairs else n
        tracked_target = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32)[:, None], (n, slots))
        pair_state, _, _ = self._pair_state(key, pairs, tracked_target, dx, dy, d2, jnp.cos(heading),
                                            jnp.sin(heading), alive, params)
        return EnvState(
            x=x,
            y=y,
            z=z,
            v=jnp.full(n, dyn.V_MIN, jnp.float32),
            heading=heading,
            health=params.max_health.astype(jnp.float32),
            alive=alive,
            tracked=jnp.zeros((n, slots), jnp.int32),
            detected=detected,
            damage_taken=jnp.zeros(n, jnp.float32),
            map_idx=map_idx,
            boxes=boxes,
            waypoint=jnp.zeros(4, jnp.float32),
            waypoint_timer=jnp.float32(0.0),
            waypoint_score=jnp.zeros(2, jnp.int32),
            t=jnp.int32(0),
            **pair_state,
        )

    # ----------------------------------------------------------------------------- pairs
    def _pairs(self, x, y, valid) -> tuple[Pairs, jax.Array]:
        """The pairs a step works on at positions x, y (valid: the agents taking part), and how
        many candidates did not fit the local path's windows (0 on the all-pairs path)."""
        s = self.scenario
        if not s.local_pairs:
            return Pairs.all(s.n_agents, s.sight_radius), jnp.int32(0)
        target, ok, dropped = candidates(x, y, valid, self._grid)
        return Pairs(s.n_agents, target, ok, s.sight_radius), dropped

    def pairs(self, state: EnvState) -> Pairs:
        """The pairs `state.detected` (and, on the local path, the state's other pair arrays) are
        indexed by: all pairs, or each agent's candidates at the state's positions."""
        s = self.scenario
        if not s.local_pairs:
            return Pairs.all(s.n_agents, s.sight_radius)
        return Pairs(s.n_agents, state.neighbours, state.neighbours_ok, s.sight_radius)

    def _pair_state(self, key, pairs: Pairs, tracked_target, dx, dy, d2, cos_h, sin_h, alive, params):
        """The local path's pair leaves of the state ([N, 0] on the all-pairs path); with partial
        observability also detected_by bool[N, C] (`dynamics.detected_by`), else None; and how
        many detectors did not fit `max_detectors` slots."""
        n = self.n_agents
        if pairs.dense:
            empty = jnp.zeros((n, 0), jnp.int32)
            leaves = dict(neighbours=empty, neighbours_ok=empty.astype(bool), tracked_target=empty, detectors=empty)
            return leaves, None, jnp.int32(0)
        by, dropped = None, jnp.int32(0)
        detectors = jnp.zeros((n, 0), jnp.int32)  # only partial observability's sharing reads them
        if self.scenario.observability == "pobs":
            by = dyn.detected_by(key, dx, dy, d2, cos_h, sin_h, alive, self.teams, params, pairs)
            slots = self.scenario.max_detectors
            detectors, present = compact(by, pairs.target, slots)
            detectors = jnp.where(present, detectors, -1)
            dropped = jnp.maximum(by.sum(axis=1) - slots, 0).sum()
        leaves = dict(neighbours=pairs.target, neighbours_ok=pairs.ok, tracked_target=tracked_target,
                      detectors=detectors)
        return leaves, by, dropped

    # ----------------------------------------------------------------------------- step
    def step(
        self, key: chex.PRNGKey, state: EnvState, action: jax.Array, params: EnvParams | None = None
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict[str, jax.Array]]:
        params = self.params if params is None else params
        state, reward, done, info = self.transition(key, state, action, params)
        # transition and observe draw from distinct `rng` streams of one key: no split needed.
        return self.observe(key, state, params), state, reward, done, info

    def check_action(self, action: Any) -> tuple[jax.Array, jax.Array]:
        """The action the rules use, and which agents' actions were invalid (bool[N]).

        Shape and dtype are checked before tracing (ValueError / TypeError). Values: a discrete
        index outside 0..26, or a non-finite continuous control, is an error where the values are
        concrete (an eager call); under `jit` or `vmap` nothing can raise, so an invalid discrete
        action acts as 13, no control (0, 0, 0), a non-finite control as 0, and
        `info["invalid_action"]` flags the agent. Finite controls outside [-1, 1] are clipped (valid).
        """
        if not hasattr(action, "shape") or not hasattr(action, "dtype"):
            action = jnp.asarray(action)
        shape, n = tuple(action.shape), self.n_agents
        if self.discrete:
            if shape != (n,):
                raise ValueError(f"{self.name}: discrete action must have shape ({n},) (one index in 0..26 "
                                 f"per agent), got shape {shape}")
            if not jnp.issubdtype(action.dtype, jnp.integer):
                raise TypeError(f"{self.name}: discrete action must be an integer array, got dtype {action.dtype}")
            invalid = (action < 0) | (action >= N_DISCRETE_ACTIONS)
            self._raise_if_concrete(action, invalid, f"an index in 0..{N_DISCRETE_ACTIONS - 1}")
            return jnp.where(invalid, NO_CONTROL, action).astype(jnp.int32), invalid
        if shape != (n, 3):
            raise ValueError(f"{self.name}: continuous action must have shape ({n}, 3) (heading, dive, "
                             f"throttle in [-1, 1]), got shape {shape}")
        if not jnp.issubdtype(action.dtype, jnp.floating):
            raise TypeError(f"{self.name}: continuous action must be a float array, got dtype {action.dtype}")
        finite = jnp.isfinite(action)
        invalid = ~finite.all(axis=-1)
        self._raise_if_concrete(action, invalid, "finite controls")
        return jnp.where(finite, action, 0.0), invalid

    def _raise_if_concrete(self, action, invalid, allowed: str) -> None:
        if isinstance(invalid, jax.core.Tracer):
            return
        bad = np.flatnonzero(np.asarray(invalid))
        if bad.size:
            raise ValueError(f"{self.name}: agent {bad[0]}'s action {np.asarray(action)[bad[0]].tolist()} is invalid "
                             f"({bad.size} agents in all); allowed: {allowed}")

    def check_state(self, state: Any) -> None:
        """ValueError unless `state` is shaped as this scenario's (one environment's) EnvState: a
        state of another scenario (other team sizes, obstacles or no obstacles) or a batch given
        where one environment is expected. Shapes only, so it costs nothing under `jit`."""
        if not isinstance(state, EnvState):
            raise TypeError(f"{self.name}: expected an EnvState, got {type(state).__name__}")
        for name, want in self._state_shapes.items():
            got = tuple(getattr(state, name).shape)
            if got != want:
                raise ValueError(f"{self.name}: state.{name} has shape {got} where this scenario's state has {want} "
                                 f"(a state of another scenario, or a batch: use jax.vmap over environments)")

    @functools.cached_property
    def _state_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = jax.eval_shape(self.reset_state, jax.random.PRNGKey(0))
        return {f.name: tuple(getattr(shapes, f.name).shape) for f in dataclasses.fields(EnvState)}

    def transition(self, key, state: EnvState, action, params: EnvParams | None = None):
        """The step without the observation: (state, reward float32[N], done bool[N], info)."""
        params = self.params if params is None else params
        self.check_state(state)
        action, invalid = self.check_action(action)
        s = self.scenario
        team = self.teams
        over_before = self.episode_over(state)

        controls = dyn.action_to_controls(action, s.discrete)
        alive_pre = state.alive
        x, y, z, v, heading = dyn.move(
            state.x, state.y, state.z, state.v, state.heading, alive_pre, controls, params.thrust
        )
        out = dyn.out_of_arena(x, y, s.arena) & alive_pre
        # Computed once here, read by every N x N loop below (see `materialize`).
        x, y, z, cos_h, sin_h, alive_f = dyn.materialize(
            x, y, z, jnp.cos(heading), jnp.sin(heading), (alive_pre & ~out).astype(jnp.float32)
        )
        alive = alive_f > 0
        pairs, dropped = self._pairs(x, y, alive)
        dx, dy, dz, d2, cos_b = dyn.pair_geometry(x, y, z, cos_h, sin_h, pairs)
        collided = dyn.collisions(d2, dz, alive, params, pairs)
        alive = alive & ~collided
        crashed = dyn.in_boxes(x, y, state.boxes) & alive
        alive = alive & ~crashed

        if s.waypoints:
            hit, waypoint, timer = dyn.waypoint_update(key, state.waypoint, state.waypoint_timer, x, y, alive, s.arena)
        else:
            hit, waypoint, timer = jnp.zeros_like(alive), state.waypoint, state.waypoint_timer

        detected = dyn.detection(key, d2, cos_b, alive, team, params, s.observability == "pobs", pairs)
        if pairs.dense:
            tracked, strength = dyn.damage(detected, state.tracked, d2, cos_b, params)
            tracked_target, shots = state.tracked_target, pairs
        else:
            tracked, tracked_target, strength, untracked = dyn.damage_local(
                detected, state.tracked, state.tracked_target, d2, cos_b, params, pairs
            )
            shots = Pairs(self.n_agents, tracked_target, tracked > 0)
        damage_taken = shots.sum_per_target(strength) * params.damage_per_second * dyn.DT
        pair_state, detected_by, unshared = self._pair_state(key, pairs, tracked_target, dx, dy, d2, cos_h, sin_h,
                                                             alive, params)
        health = state.health - damage_taken + params.healing_per_second * dyn.DT + params.max_health * hit
        health = jnp.clip(health * alive, 0.0, params.max_health)
        alive = alive & (health > 0)

        score = state.waypoint_score + jnp.stack([(hit & (team == 0)).any(), (hit & (team == 1)).any()]).astype(jnp.int32)
        new = state.replace(
            x=x, y=y, z=z, v=v, heading=heading, health=health, alive=alive, tracked=tracked,
            detected=detected, damage_taken=damage_taken, waypoint=waypoint, waypoint_timer=timer,
            waypoint_score=score, t=state.t + 1, **pair_state,
        )
        reward = self._reward(
            params, alive_pre, alive, out | crashed, collided, hit, detected, strength, pairs, shots, detected_by,
        )
        # A finished episode is absorbing: nothing moves, nothing is paid.
        new = jax.tree_util.tree_map(lambda a, b: jnp.where(over_before, a, b), state, new)
        reward = jnp.where(over_before, 0.0, reward)
        terminated, truncated, winner = self.outcome(new)
        done = ~new.alive | terminated | truncated
        # Why each agent died this step (0 it did not); unused outputs cost nothing under jit.
        cause = jnp.select(
            [out, collided, crashed, alive_pre & ~new.alive], [DEATH_ARENA, DEATH_COLLISION, DEATH_OBSTACLE, DEATH_DAMAGE], 0
        ).astype(jnp.int32)
        cause = jnp.where(over_before, 0, cause)  # nobody dies in an absorbing state
        info = dict(terminated=terminated, truncated=truncated, winner=winner, death_cause=cause,
                    invalid_action=invalid)
        if not pairs.dense:  # nonzero: the local path missed pairs the all-pairs path would use
            dropped = dropped + untracked + unshared  # full windows, tracking slots, detector slots
            info["pairs_dropped"] = jnp.where(over_before, 0, dropped).astype(jnp.int32)
        return new, reward, done, info

    def _detectors(self, pairs: Pairs, detected, detected_by) -> jax.Array:
        """float32[N]: how many agents detected each agent this step."""
        if pairs.dense:
            return detected.astype(jnp.float32).sum(axis=0)
        # Read from the target's side, not scattered from the observers' (XLA's CPU scatter is a
        # serial loop): full observability's detection is symmetric, partial's has detected_by.
        by = detected_by if self.scenario.observability == "pobs" else detected
        return by.astype(jnp.float32).sum(axis=1)

    def _reward(self, params: EnvParams, alive_pre, alive, crashed, collided, hit, detected, strength,
                pairs: Pairs, shots: Pairs, detected_by):
        """Gigastep's reward terms, each weighted by its `reward_*` parameter, divided by N.

        detected is over `pairs`, strength over `shots` (the same on the all-pairs path)."""
        team = self.teams
        f = lambda b: b.astype(jnp.float32)  # noqa: E731
        # Team head-counts by masked sums (no tiny batched matmuls: slow on CPU).
        count = lambda alive: jnp.stack([(alive & (team == 0)).sum(), (alive & (team == 1)).sum()]).astype(jnp.float32)  # noqa: E731
        pre, now = count(alive_pre), count(alive)
        on_a = team == 0
        pick = lambda c, mine: jnp.where(on_a == mine, c[0], c[1])  # noqa: E731  own (mine) or other team's count
        n_own_pre, n_own, n_other_pre, n_other = pick(pre, True), pick(now, True), pick(pre, False), pick(now, False)
        losses_own, losses_other = n_own_pre - n_own, n_other_pre - n_other
        defeat = (losses_other - losses_own) / (n_own + 1.0) * f(alive)
        detection = (0.5 * f(detected).sum(axis=1) - 0.2 * self._detectors(pairs, detected, detected_by)) * dyn.DT * f(alive)
        dmg = (strength.sum(axis=1) - 0.5 * shots.sum_per_target(strength)) * dyn.DT * f(alive)
        aux = (
            params.reward_hit_waypoint * f(hit)
            + params.idle_reward
            + params.reward_defeat_one_opponent * defeat
            + params.reward_detection * detection
            + params.reward_damage * dmg
            - params.reward_idle * 0.01 * dyn.DT * f(alive)
            - params.reward_collision_agent * f(collided)
            - params.reward_collision_obstacle * f(crashed)
            - params.reward_agent_disabled * f(alive_pre & ~alive)
        )
        won = f((n_other == 0) & alive) if self.scenario.episode_ends_one_team_dead else 0.0
        total = params.aux_rewards_factor * aux + params.reward_game_won * won
        return total / self.n_agents * f(alive_pre)

    # ----------------------------------------------------------------------------- outcome
    def team_alive(self, state: EnvState) -> jax.Array:
        """int32[2]: alive agents of team A and team B."""
        a = state.alive.astype(jnp.int32)
        return jnp.stack([(a * (self.teams == 0)).sum(), (a * (self.teams == 1)).sum()])

    def outcome(self, state: EnvState):
        """(terminated bool[], truncated bool[], winner int32[]) of a state."""
        s = self.scenario
        alive_a, alive_b = self.team_alive(state)
        wiped_a, wiped_b = alive_a == 0, alive_b == 0
        if s.episode_ends_one_team_dead:
            terminated = wiped_a | wiped_b
        else:
            terminated = wiped_a & wiped_b
        truncated = (state.t >= s.max_steps) & ~terminated
        by_wipe = jnp.where(wiped_b & ~wiped_a, 0, jnp.where(wiped_a & ~wiped_b, 1, -1))
        if s.timeout_winner == "team_a":
            on_timeout = jnp.int32(0)
        elif s.timeout_winner == "team_b":
            on_timeout = jnp.int32(1)
        elif s.timeout_winner == "waypoints":
            sa, sb = state.waypoint_score[0], state.waypoint_score[1]
            on_timeout = jnp.where(sa > sb, 0, jnp.where(sb > sa, 1, -1))
        else:
            on_timeout = jnp.int32(-1)
        winner = jnp.where(terminated, by_wipe, jnp.where(truncated, on_timeout, -1)).astype(jnp.int32)
        return terminated, truncated, winner

    def episode_over(self, state: EnvState) -> jax.Array:
        terminated, truncated, _ = self.outcome(state)
        return terminated | truncated

    # ----------------------------------------------------------------------------- observations
    def observe(self, key: chex.PRNGKey, state: EnvState, params: EnvParams | None = None) -> jax.Array:
        """Observations of every agent: float32[N, F] or uint8[N, R, R, 3]."""
        params = self.params if params is None else params
        self.check_state(state)
        s = self.scenario
        team = self.teams
        pairs = self.pairs(state)
        if s.obs_kind == "rgb":
            if pairs.dense:
                seen = observe.visibility(key, state, team, params, s.observability == "pobs", pairs)
            else:  # the shared view (fobs) draws every alive agent; the composer takes it as [N, N]
                seen = jnp.broadcast_to(state.alive[None, :], (self.n_agents, self.n_agents))
            return observe.rgb_obs(
                state, seen, s, jnp.asarray(self._sprite), team, params.max_health, jnp.asarray(self._background),
                shared_view=s.observability == "fobs",
            )
        seen = observe.visibility(key, state, team, params, s.observability == "pobs", pairs)
        return observe.vector_obs(state, seen, s, jnp.asarray(self._sprite, jnp.float32), team, pairs)

    def global_state(self, state: EnvState, params: EnvParams | None = None) -> jax.Array:
        """float32[G]: the full state as one vector for centralised critics (no observation work)."""
        params = self.params if params is None else params
        return observe.global_state(state, self.scenario, jnp.asarray(self._sprite), self.teams, params.max_health)

    @staticmethod
    def alive_mask(state: EnvState) -> jax.Array:
        """bool[N]."""
        return state.alive
