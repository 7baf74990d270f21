"""The environment under other libraries' APIs: JaxMARL, PettingZoo and Gymnasium.

    gj.adapters.JaxMARLEnv(env)                  # JaxMARL's MultiAgentEnv: dicts by agent name, jit/vmap
    gj.adapters.PettingZooEnv("identical_5_vs_5_fobs_vec_void_disc", seed=0)   # a ParallelEnv, numpy
    gj.adapters.GymnasiumEnv(name, opponent="chaser")  # one team as a single Gymnasium agent

Agents are named `team_a_0 .. team_a_{n-1}, team_b_0 ..` in the order of the agent axis. The native
API (arrays stacked over agents) stays the fast one. What each adapter costs per step against it,
measured by `benchmarks/adapter_overhead.py` on a 2-core CPU, 5v5 (`benchmarks/RESULTS.md#adapters`):
- JaxMARLEnv in `jit(scan(vmap(step)))` over 1024 envs: 0.92-1.15x the native
  `AutoReset(env, final_obs=False)` (the same work; the spread is the machine's noise). Stepped
  from Python it costs 2x the native jitted step: its dict of scalar actions is copied one by one.
- PettingZooEnv 1.1x and GymnasiumEnv 1.15-1.2x the native jitted step called from Python (about
  300 us a step here): one compiled step plus the copy to numpy and the dicts. They suit libraries
  that step one environment from Python, not large batches.

PettingZoo and Gymnasium are optional (`pip install "gigastep-jax[adapters]"`); the JaxMARL adapter
needs neither, nor JaxMARL itself.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from gigastep_jax import policies
from gigastep_jax.env import NO_CONTROL, Env
from gigastep_jax.state import EnvParams, EnvState
from gigastep_jax.wrappers import select_tree

try:  # optional: only the PettingZoo and Gymnasium adapters need them
    import gymnasium
    from gymnasium import spaces as gym_spaces
except ImportError:  # pragma: no cover - exercised where the extra is missing
    gymnasium = None
try:
    from pettingzoo import ParallelEnv as _ParallelEnv
except ImportError:  # pragma: no cover
    _ParallelEnv = object

_INSTALL = 'pip install "gigastep-jax[adapters]"'


def agent_names(env: Env) -> list[str]:
    """`team_a_0 .. team_b_{m-1}`: one name per agent, in the order of the agent axis."""
    s = env.scenario
    return [f"team_a_{i}" for i in range(s.n_team_a)] + [f"team_b_{i}" for i in range(s.n_team_b)]


def _known(agent: str, names: list[str]) -> str:
    if agent not in names:
        raise KeyError(f"unknown agent {agent!r}; agents: {', '.join(names)}")
    return agent


def _as_env(name_or_env: str | Env) -> Env:
    if isinstance(name_or_env, Env):
        return name_or_env
    if isinstance(name_or_env, str):
        from gigastep_jax import make

        return make(name_or_env)
    raise TypeError(f"expected a scenario name or a gigastep_jax.Env, got {type(name_or_env).__name__}")


def _require(module, adapter: str) -> None:
    if module is None or module is object:
        raise ImportError(f"{adapter} needs PettingZoo and Gymnasium: {_INSTALL}")


# ---------------------------------------------------------------------------------------- JaxMARL
class JaxMARLEnv:
    """A JaxMARL `MultiAgentEnv`: observations, actions, rewards and dones as dicts keyed by agent.

        env = gj.adapters.JaxMARLEnv(gj.make("identical_5_vs_5_fobs_vec_void_disc"))
        obs, state = env.reset(key)                      # obs[agent]: float32[F]
        obs, state, reward, done, info = env.step(key, state, actions)
        done["__all__"]                                  # the episode ended (then state is a fresh one)

    As JaxMARL expects, `step` resets an ended episode in the same call (pass `reset_state` to choose
    the new state), `done[agent]` is the agent's own end (dead, or the episode over), and every
    `info` leaf has one entry per agent (`terminated`, `truncated`, `winner` broadcast; `death_cause`,
    `invalid_action`) so that JaxMARL's training scripts can reshape infos to `[num_actors]`.
    `get_world_state(state)` is the full state (float32[G]) for centralised critics.

    Cost: inside `jit` the dicts are only names for slices of the stacked arrays, so a step costs
    the native `AutoReset(env, final_obs=False)` step (benchmarks/adapter_overhead.py).
    """

    def __init__(self, env: str | Env, params: EnvParams | None = None):
        self.env = _as_env(env)
        self.params = self.env.params if params is None else params
        self.num_agents = self.env.n_agents
        self.agents = agent_names(self.env)
        self.observation_spaces = {a: self.env.observation_space() for a in self.agents}
        self.action_spaces = {a: self.env.action_space() for a in self.agents}

    @property
    def name(self) -> str:
        return self.env.name

    def observation_space(self, agent: str):
        return self.observation_spaces[_known(agent, self.agents)]

    def action_space(self, agent: str):
        return self.action_spaces[_known(agent, self.agents)]

    def _dict(self, x: jax.Array) -> dict[str, jax.Array]:
        return {a: x[i] for i, a in enumerate(self.agents)}

    def _stack(self, actions: dict[str, Any]) -> jax.Array:
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise KeyError(f"actions need one entry per agent; missing {', '.join(missing)}")
        return jnp.stack([jnp.asarray(actions[a]) for a in self.agents])

    @functools.partial(jax.jit, static_argnums=0)
    def reset(self, key: jax.Array) -> tuple[dict[str, jax.Array], EnvState]:
        obs, state = self.env.reset(key, self.params)
        return self._dict(obs), state

    def get_obs(self, state: EnvState, key: jax.Array | None = None) -> dict[str, jax.Array]:
        """Observations of `state` (the key only draws partial observability's noise)."""
        key = jax.random.PRNGKey(0) if key is None else key
        return self._dict(self.env.observe(key, state, self.params))

    def step_env(self, key: jax.Array, state: EnvState, actions: dict[str, Any]):
        """One step without the auto-reset (JaxMARL's `step_env`)."""
        obs, state, reward, done, info = self.env.step(key, state, self._stack(actions), self.params)
        return (self._dict(obs), state, *self._outputs(reward, done, info))

    @functools.partial(jax.jit, static_argnums=0)
    def step(self, key: jax.Array, state: EnvState, actions: dict[str, Any], reset_state: EnvState | None = None):
        k_step, k_reset = jax.random.split(key)
        end, reward, done, info = self.env.transition(k_step, state, self._stack(actions), self.params)
        ended = info["terminated"] | info["truncated"]
        fresh = self.env.reset_state(k_reset, self.params) if reset_state is None else reset_state
        state = select_tree(ended, fresh, end)
        # One observation per step: of the new episode where one ended (JaxMARL computes both).
        obs = self.env.observe(k_reset, state, self.params)
        return (self._dict(obs), state, *self._outputs(reward, done, info))

    def _outputs(self, reward, done, info):
        n = self.num_agents
        ended = info["terminated"] | info["truncated"]
        dones = dict(self._dict(done), __all__=ended)
        infos = {k: jnp.broadcast_to(v, (n,)) for k, v in info.items()}
        return self._dict(reward), dones, infos

    def get_world_state(self, state: EnvState) -> jax.Array:
        """float32[G]: the full state as one vector (`Env.global_state`)."""
        return self.env.global_state(state, self.params)

    def get_avail_actions(self, state: EnvState) -> dict[str, jax.Array]:
        """Every discrete action is always available: ones float32[27] per agent."""
        if not self.env.discrete:
            raise ValueError(f"{self.name} has continuous actions: there is no action mask")
        return {a: jnp.ones(self.env.n_actions, jnp.float32) for a in self.agents}

    def __repr__(self) -> str:
        return f"JaxMARLEnv({self.env!r})"


# --------------------------------------------------------------------------------------- PettingZoo
def _gym_obs_space(env: Env, shape: tuple[int, ...]):
    if env.scenario.obs_kind == "rgb":
        return gym_spaces.Box(0, 255, shape, np.uint8)
    return gym_spaces.Box(-np.inf, np.inf, shape, np.float32)


class _Stepper:
    """One environment stepped from Python: compiled reset and step, a key stream, numpy out."""

    def __init__(self, env: Env, params: EnvParams | None, step_fn: Callable):
        self.env = env
        self.params = env.params if params is None else params
        self.key: jax.Array | None = None
        self.state: EnvState | None = None
        self._reset = jax.jit(lambda key: env.reset(key, self.params))
        self._step = jax.jit(step_fn)

    def seed(self, seed: int | None, fallback: np.random.Generator | None = None) -> None:
        """A new key stream from `seed`; with None, keep the stream (or start one at random)."""
        if seed is not None:
            self.key = jax.random.PRNGKey(int(seed))
        elif self.key is None:
            rng = fallback if fallback is not None else np.random.default_rng()
            self.key = jax.random.PRNGKey(int(rng.integers(2**31)))

    def next_key(self) -> jax.Array:
        self.key, key = jax.random.split(self.key)
        return key


class PettingZooEnv(_ParallelEnv):
    """A PettingZoo `ParallelEnv` over one battle: numpy in and out, dicts keyed by agent name.

        env = gj.adapters.PettingZooEnv("identical_5_vs_5_fobs_vec_void_disc", seed=0)
        obs, infos = env.reset()
        while env.agents:
            actions = {a: env.action_space(a).sample() for a in env.agents}
            obs, rewards, terminations, truncations, infos = env.step(actions)

    An agent that dies is `terminated` and leaves `agents` after that step; when a team is wiped
    out every remaining agent is terminated, and at the time limit they are `truncated`. Each step
    returns entries for the agents alive before it. `infos[agent]` holds `death_cause` (0 alive,
    1 left the arena, 2 collision, 3 obstacle, 4 damage) and, once the episode is over, `winner`
    (0 team A, 1 team B, -1 a draw). `state()` is the full state vector; `render()` with
    `render_mode="rgb_array"` the top-down frame.

    `seed` seeds the first `reset()`; `reset(seed=s)` starts a new key stream (the same seed gives
    the same episode for the same actions), `reset()` continues the stream.

    Cost: one compiled step per call plus copying its outputs to numpy and building the dicts
    (benchmarks/adapter_overhead.py). For batches and training, use the native API or JaxMARLEnv.
    """

    metadata = {"name": "gigastep_v0", "render_modes": ["rgb_array"], "render_fps": 20, "is_parallelizable": True}

    def __init__(self, name_or_env: str | Env, seed: int | None = None, render_mode: str | None = None,
                 params: EnvParams | None = None):
        _require(_ParallelEnv, "PettingZooEnv")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        env = _as_env(name_or_env)
        self.env = env
        self.render_mode = render_mode
        self.possible_agents = agent_names(env)
        self.agents: list[str] = []
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        # One space object per agent, so that each can be seeded on its own (PettingZoo's API test).
        self._observation_spaces = {a: _gym_obs_space(env, env.obs_shape) for a in self.possible_agents}
        self._action_spaces = {
            a: gym_spaces.Discrete(env.n_actions) if env.discrete else gym_spaces.Box(-1.0, 1.0, (3,), np.float32)
            for a in self.possible_agents
        }
        self._first_seed = seed
        self._sim = _Stepper(env, params, lambda key, state, action: env.step(key, state, action, self._sim.params))

    def observation_space(self, agent: str):
        return self._observation_spaces[_known(agent, self.possible_agents)]

    def action_space(self, agent: str):
        return self._action_spaces[_known(agent, self.possible_agents)]

    @property
    def num_agents(self) -> int:
        return len(self.agents)

    @property
    def max_num_agents(self) -> int:
        return len(self.possible_agents)

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is None and self._sim.key is None:
            seed = self._first_seed
        self._sim.seed(seed)
        obs, self._sim.state = self._sim._reset(self._sim.next_key())
        obs = np.asarray(obs)
        self.agents = list(self.possible_agents)
        return {a: obs[i] for i, a in enumerate(self.agents)}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        if self._sim.state is None:
            raise RuntimeError("call reset() before step()")
        unknown = [a for a in actions if a not in self._index]
        missing = [a for a in self.agents if a not in actions]
        if unknown or missing:
            raise ValueError(f"actions must have one entry per live agent; unknown: {unknown}, missing: {missing}")
        env = self.env
        action = np.full(env.action_shape, NO_CONTROL, np.int32) if env.discrete \
            else np.zeros(env.action_shape, np.float32)
        for a in self.agents:
            action[self._index[a]] = actions[a]
        obs, self._sim.state, reward, done, info = self._sim._step(self._sim.next_key(), self._sim.state, action)
        obs, reward, done, info = jax.device_get((obs, reward, done, info))
        truncated, over = bool(info["truncated"]), bool(info["terminated"] | info["truncated"])
        live = self.agents
        idx = [self._index[a] for a in live]
        observations = {a: obs[i] for a, i in zip(live, idx)}
        rewards = {a: float(reward[i]) for a, i in zip(live, idx)}
        # At the time limit the survivors are truncated; an agent that died this step is terminated.
        terminations = {a: bool(done[i]) and not (truncated and info["death_cause"][i] == 0) for a, i in zip(live, idx)}
        truncations = {a: truncated and not terminations[a] for a in live}
        infos = {a: {"death_cause": int(info["death_cause"][i])} for a, i in zip(live, idx)}
        if over:
            for a in live:
                infos[a]["winner"] = int(info["winner"])
        self.agents = [a for a in live if not (terminations[a] or truncations[a])]
        return observations, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        """float32[G]: the full state (`Env.global_state`)."""
        if self._sim.state is None:
            raise RuntimeError("call reset() before state()")
        return np.asarray(self.env.global_state(self._sim.state, self._sim.params))

    def render(self):
        if self.render_mode is None:
            gymnasium.logger.warn("render() called with render_mode=None; pass render_mode='rgb_array'")
            return None
        if self._sim.state is None:
            raise RuntimeError("call reset() before render()")
        return np.asarray(_frame(self.env)(self._sim.state))

    def close(self) -> None:
        pass


@functools.lru_cache(maxsize=8)
def _frame(env: Env):
    from gigastep_jax import render

    return jax.jit(lambda state: render.frame(env, state))


# ---------------------------------------------------------------------------------------- Gymnasium
_GymBase = gymnasium.Env if gymnasium is not None else object


class GymnasiumEnv(_GymBase):
    """One team of a battle as a single Gymnasium agent; the other team plays `opponent`.

        env = gj.adapters.GymnasiumEnv("identical_5_vs_5_fobs_vec_void_disc", opponent="chaser")
        obs, info = env.reset(seed=0)           # obs: the team's observations [n, F]
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

    The action is the team's joint action (`MultiDiscrete([27] * n)` or `Box(-1, 1, (n, 3))`); the
    reward is the sum of the team's agents' rewards; `terminated` when a team is wiped out,
    `truncated` at the time limit. `info` has `winner` (0 team A, 1 team B, -1 a draw or not yet),
    `alive` (bool[n], the team's agents alive) and `enemies_alive`.

    `opponent` is a scripted policy's name ("random", "chaser", "circler") or any policy
    `policy(key, env, state) -> action` for all N agents, e.g. a trained one from
    `algorithms.load_policy("runs/demo")`; only its moves for the other team are used. `team` is 0
    (play team A, the default) or 1.

    Cost: one compiled step (the opponent's move included) per call plus the copy to numpy
    (benchmarks/adapter_overhead.py).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, name_or_env: str | Env, opponent: str | policies.Policy = "chaser", team: int = 0,
                 render_mode: str | None = None, params: EnvParams | None = None):
        _require(gymnasium, "GymnasiumEnv")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if team not in (0, 1) or isinstance(team, bool):
            raise ValueError(f"team must be 0 (team A) or 1 (team B), got {team!r}")
        env = _as_env(name_or_env)
        if isinstance(opponent, str):
            opponent = policies.get(opponent)
        elif not callable(opponent):
            raise TypeError(f"opponent must be a scripted policy's name ({', '.join(policies.SCRIPTED)}) or a "
                            f"callable policy(key, env, state) -> action, got {type(opponent).__name__}")
        self.env, self.team, self.opponent, self.render_mode = env, team, opponent, render_mode
        self._mine = np.flatnonzero(np.asarray(env.teams) == team)
        n = len(self._mine)
        self.observation_space = _gym_obs_space(env, (n, *env.obs_shape))
        self.action_space = gym_spaces.MultiDiscrete(np.full(n, env.n_actions)) if env.discrete \
            else gym_spaces.Box(-1.0, 1.0, (n, 3), np.float32)
        self._sim = _Stepper(env, params, self._compiled_step)

    def _compiled_step(self, key, state, team_action):
        env, mine = self.env, jnp.asarray(self._mine)
        k_opponent, k_env = jax.random.split(key)
        action = self.opponent(k_opponent, env, state).at[mine].set(team_action)
        obs, state, reward, _, info = env.step(k_env, state, action, self._sim.params)
        return state, dict(obs=obs[mine], reward=reward[mine].sum(), terminated=info["terminated"],
                           truncated=info["truncated"], winner=info["winner"], alive=state.alive)

    def _info(self, winner, alive: np.ndarray) -> dict:
        theirs = np.ones(len(alive), bool)
        theirs[self._mine] = False
        return {"winner": int(winner), "alive": alive[self._mine], "enemies_alive": int(alive[theirs].sum())}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._sim.seed(seed, fallback=self.np_random)
        obs, self._sim.state = self._sim._reset(self._sim.next_key())
        return np.asarray(obs)[self._mine], self._info(-1, np.asarray(self._sim.state.alive))

    def step(self, action):
        if self._sim.state is None:
            raise RuntimeError("call reset() before step()")
        space = self.action_space
        action = np.asarray(action)
        if action.shape != space.shape:
            raise ValueError(f"the team's action must have shape {space.shape}, got {action.shape}")
        if self.env.discrete:
            if not np.issubdtype(action.dtype, np.integer) or ((action < 0) | (action >= self.env.n_actions)).any():
                raise ValueError(f"the team's action must be integers in 0..{self.env.n_actions - 1}, got {action.tolist()}")
            action = action.astype(np.int32)
        elif not np.isfinite(action).all():
            raise ValueError(f"the team's action must be finite, got {action.tolist()}")
        else:
            action = action.astype(np.float32)
        self._sim.state, out = self._sim._step(self._sim.next_key(), self._sim.state, action)
        out = jax.device_get(out)
        return (out["obs"], float(out["reward"]), bool(out["terminated"]), bool(out["truncated"]),
                self._info(out["winner"], out["alive"]))

    def render(self):
        if self.render_mode is None or self._sim.state is None:
            return None
        return np.asarray(_frame(self.env)(self._sim.state))
