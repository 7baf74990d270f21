"""The adapters under the libraries' own checks: JaxMARL's LogWrapper under jit and vmap, a
JaxMARL-style IPPO loop, PettingZoo's parallel API and seed tests, Gymnasium's env checker; and
each adapter's numbers against the native API given the same keys and actions."""

from __future__ import annotations

import importlib.util
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj
from gigastep_jax.adapters import GymnasiumEnv, JaxMARLEnv, PettingZooEnv, agent_names
from tests.conftest import REPO

NAME = "identical_2_vs_2_fobs_vec_void_disc"
E, T = 4, 40  # environments, steps: with max_steps=12 every environment resets several times


@pytest.fixture(scope="module")
def env():
    return gj.make(NAME, max_steps=12)


def random_actions(key, n_envs=E, n_agents=4):
    return jax.random.randint(key, (T, n_envs, n_agents), 0, 27, dtype=jnp.int32)


# ------------------------------------------------------------------------------------------ JaxMARL
@pytest.fixture(scope="module")
def jaxmarl_vs_native(env):
    """The same keys and actions through LogWrapper(JaxMARLEnv) and native AutoReset, stacked [T, E, ...]."""
    from jaxmarl.wrappers.baselines import LogWrapper

    wrapped = LogWrapper(JaxMARLEnv(env))
    native = gj.AutoReset(env, final_obs=False)
    actions = random_actions(jax.random.PRNGKey(1))
    step_keys = jax.random.split(jax.random.PRNGKey(2), T * E).reshape(T, E, -1)

    @jax.jit
    def run(reset_keys):
        def body(carry, x):
            (w_obs, w_state), (n_obs, n_state) = carry
            act, ks = x
            w = jax.vmap(wrapped.step)(ks, w_state, {a: act[:, i] for i, a in enumerate(wrapped.agents)})
            n = jax.vmap(native.step)(ks, n_state, act)
            return ((w[0], w[1]), (n[0], n[1])), (w, n)

        start = jax.vmap(wrapped.reset)(reset_keys), jax.vmap(native.reset)(reset_keys)
        return start, jax.lax.scan(body, start, (actions, step_keys))[1]

    return wrapped, run(jax.random.split(jax.random.PRNGKey(0), E))


def test_jaxmarl_adapter_equals_the_native_auto_reset(jaxmarl_vs_native):
    wrapped, (start, ((obs, _, reward, done, info), (n_obs, _, n_reward, n_done, n_info))) = jaxmarl_vs_native
    agents = wrapped.agents
    assert agents == ["team_a_0", "team_a_1", "team_b_0", "team_b_1"]
    np.testing.assert_array_equal(np.stack([start[0][0][a] for a in agents], axis=1), start[1][0])
    stack = lambda d: np.stack([np.asarray(d[a]) for a in agents], axis=-1 if d[agents[0]].ndim == 2 else 2)  # noqa: E731
    np.testing.assert_array_equal(np.stack([obs[a] for a in agents], axis=2), n_obs)
    np.testing.assert_array_equal(stack(reward), n_reward)
    np.testing.assert_array_equal(stack(done), n_done)
    ended = np.asarray(n_info["terminated"] | n_info["truncated"])
    assert ended.sum() >= 2 * E, "the fixture should reset every environment at least twice"
    np.testing.assert_array_equal(done["__all__"], ended)
    for k in ("terminated", "truncated", "winner"):  # broadcast to one entry per agent
        np.testing.assert_array_equal(info[k], np.broadcast_to(np.asarray(n_info[k])[..., None], (T, E, 4)))
    np.testing.assert_array_equal(info["death_cause"], n_info["death_cause"])


def test_log_wrapper_returns_are_the_native_episode_sums(jaxmarl_vs_native):
    """LogWrapper's returned_episode_returns, recomputed from the native rewards by hand."""
    _, (_, ((_, _, _, _, info), (_, _, n_reward, _, n_info))) = jaxmarl_vs_native
    ended = np.asarray(n_info["terminated"] | n_info["truncated"])
    reward = np.asarray(n_reward)
    for e in range(E):
        running, last = np.zeros(4, np.float32), np.zeros(4, np.float32)
        for t in range(T):
            running = running + reward[t, e]
            if ended[t, e]:
                last, running = running, np.zeros(4, np.float32)
            np.testing.assert_allclose(info["returned_episode_returns"][t, e], last, rtol=1e-6, atol=1e-6)
            assert bool(info["returned_episode"][t, e].all()) == bool(ended[t, e])


def test_jaxmarl_adapter_surface(env):
    wrapped = JaxMARLEnv(env)
    assert wrapped.num_agents == 4 and wrapped.name == NAME
    assert wrapped.action_space("team_b_1").n == 27
    assert wrapped.observation_space("team_a_0").shape == env.obs_shape
    obs, state = wrapped.reset(jax.random.PRNGKey(0))
    assert wrapped.get_world_state(state).shape == (env.global_state_size,)
    assert set(wrapped.get_avail_actions(state)) == set(wrapped.agents)
    np.testing.assert_allclose(wrapped.get_obs(state)["team_b_0"], obs["team_b_0"], atol=1e-6)  # eager vs jit
    with pytest.raises(KeyError, match="unknown agent 'team_c_0'"):
        wrapped.action_space("team_c_0")
    with pytest.raises(KeyError, match="missing team_b_1"):
        wrapped.step(jax.random.PRNGKey(1), state, {a: 13 for a in wrapped.agents[:3]})
    # step_env does not reset: the state after the time limit stays absorbing.
    still = {a: jnp.int32(13) for a in wrapped.agents}
    step_env = jax.jit(wrapped.step_env)
    for i in range(12):
        _, state, _, dones, _ = step_env(jax.random.PRNGKey(i), state, still)
    assert bool(dones["__all__"]) and int(state.t) == 12
    _, state, reward, _, _ = step_env(jax.random.PRNGKey(99), state, still)
    assert int(state.t) == 12 and all(float(r) == 0.0 for r in reward.values())


def load_example():
    spec = importlib.util.spec_from_file_location("jaxmarl_ippo", REPO / "examples" / "jaxmarl_ippo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_a_jaxmarl_style_ippo_loop_trains_on_the_adapter():
    """Two updates of the example's loop: its losses are finite, its parameters move, and its
    episode counts add up (each ended episode won by a team or drawn)."""
    ippo = load_example()
    config = ippo.Config(num_envs=4, num_steps=32, updates=2, epochs=1, minibatches=2)
    _, network, train = ippo.make_train(config)
    params, metrics = jax.jit(train)(jax.random.PRNGKey(0))
    obs_shape = gj.make(config.scenario).obs_shape
    start = network.init(jax.random.split(jax.random.PRNGKey(0), 3)[1], jnp.zeros(obs_shape))  # as train() does
    assert all(np.isfinite(np.asarray(v)).all() for k, v in metrics.items() if k != "episode_return")
    assert metrics["loss"].shape == (2,)
    assert (np.asarray(metrics["team_a_wins"] + metrics["team_b_wins"]) <= np.asarray(metrics["episodes"])).all()
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), params, start)
    assert max(jax.tree.leaves(moved)) > 0


@pytest.mark.slow
def test_the_ippo_example_learns_to_beat_random():
    """300 updates (about 600 k environment steps, 30 s here) raise team A's wins against random
    from about half; measured 142/0/114 untrained and 188/1/67 trained over 256 battles."""
    ippo = load_example()
    config = ippo.Config(num_envs=32, updates=300)
    _, network, train = ippo.make_train(config)
    params, _ = jax.jit(train)(jax.random.PRNGKey(0))
    before = ippo.evaluate(config, network, network.init(jax.random.PRNGKey(5), jnp.zeros(gj.make(NAME).obs_shape)))
    after = ippo.evaluate(config, network, params)
    assert after["wins"] >= 0.65 * 256 and after["wins"] > before["wins"] + 25


# --------------------------------------------------------------------------------------- PettingZoo
def test_pettingzoo_parallel_api_test_passes_without_warnings():
    from pettingzoo.test import parallel_api_test

    env = PettingZooEnv(gj.make(NAME, max_steps=60), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the test's soft failures are warnings
        parallel_api_test(env, num_cycles=200)
    assert env.agents == []  # its last episode ran to the 60-step limit within the 200 cycles


def test_pettingzoo_seed_tests_pass():
    from pettingzoo.test import parallel_seed_test, seed_test
    from pettingzoo.utils.conversions import parallel_to_aec

    parallel_seed_test(lambda: PettingZooEnv(NAME))
    seed_test(lambda: parallel_to_aec(PettingZooEnv(gj.make(NAME, max_steps=30))), num_cycles=30)
    first, second = (PettingZooEnv(NAME).reset(seed=7)[0] for _ in range(2))
    assert all(np.array_equal(first[a], second[a]) for a in first)


def play_pettingzoo(env, seed, steps=200):
    """(every step's outputs, agents after each step) of an episode of seeded random actions."""
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out, agents = [(obs,)], [list(env.agents)]
    while env.agents and len(out) < steps:
        step = env.step({a: int(rng.integers(27)) for a in env.agents})
        out.append(step)
        agents.append(list(env.agents))
    return out, agents


def test_pettingzoo_episodes_end_as_documented(env):
    """Dead agents leave after their terminating step; survivors are truncated at the time limit;
    the same seed gives the same episode and another seed another one; numpy out."""
    pz = PettingZooEnv(env, render_mode="rgb_array")
    out, agents = play_pettingzoo(pz, seed=3)
    assert len(out) - 1 == 12 and agents[-1] == []  # the time limit of 12 steps
    for (_, rewards, term, trunc, infos), before, after in zip(out[1:], agents, agents[1:]):
        assert list(rewards) == before and list(term) == before  # entries for the agents alive before
        for a in before:
            gone = a not in after
            assert gone == (term[a] or trunc[a])
            assert not (term[a] and trunc[a])
            assert term[a] == (infos[a]["death_cause"] > 0) or "winner" in infos[a]
    *_, last_trunc, last_infos = out[-1]
    assert "winner" in next(iter(last_infos.values()))
    assert any(last_trunc.values()) or not agents[-2]
    obs = out[0][0]["team_a_0"]
    assert isinstance(obs, np.ndarray) and obs.dtype == np.float32 and obs.shape == env.obs_shape
    same, _ = play_pettingzoo(PettingZooEnv(env), seed=3)
    other, _ = play_pettingzoo(PettingZooEnv(env), seed=4)
    assert len(same) == len(out)
    for a, b in zip(same, out):
        assert list(a[0]) == list(b[0])
        for agent in a[0]:
            np.testing.assert_array_equal(a[0][agent], b[0][agent])
    assert not np.array_equal(other[0][0]["team_a_0"], out[0][0]["team_a_0"])
    assert pz.render().shape == (3 * 84, 3 * 84, 3) and pz.state().shape == (env.global_state_size,)


def test_pettingzoo_bad_input():
    pz = PettingZooEnv(NAME, seed=0)
    with pytest.raises(RuntimeError, match="reset"):
        pz.step({})
    pz.reset()
    with pytest.raises(ValueError, match=r"unknown: \['team_c_0'\], missing: \['team_b_1'\]"):
        pz.step({"team_a_0": 1, "team_a_1": 1, "team_b_0": 1, "team_c_0": 1})
    with pytest.raises(ValueError, match="render_mode must be None or 'rgb_array'"):
        PettingZooEnv(NAME, render_mode="human")
    with pytest.raises(ValueError, match="Did you mean: identical_2_vs_2_fobs_vec_void_disc"):
        PettingZooEnv("identical_2_vs_2_fobs_vec_void_dis")


# ---------------------------------------------------------------------------------------- Gymnasium
def test_gymnasium_env_checker_passes():
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Vector observations are unbounded by design; the checker warns about any infinite bound.
        warnings.filterwarnings("ignore", message=".*infinity")
        warnings.filterwarnings("ignore", message=".*alternative render modes")
        check_env(GymnasiumEnv(NAME, opponent="random"), skip_render_check=True)


def test_gymnasium_view_is_the_native_step_with_the_opponent_playing(env):
    """The same key stream through the native API: the team's observations, the sum of its rewards,
    and the opponent's moves taken from the given policy (here: team A always turns at full throttle)."""
    turn = lambda key, env, state: jnp.full((env.n_agents,), 16, jnp.int32)  # noqa: E731  9*t + 3*h + d
    gym = GymnasiumEnv(env, opponent=turn, team=1)
    assert gym.observation_space.shape == (2, *env.obs_shape) and gym.action_space.shape == (2,)
    obs, info = gym.reset(seed=5)
    key = jax.random.PRNGKey(5)
    key, k = jax.random.split(key)
    n_obs, state = jax.jit(env.reset)(k)
    np.testing.assert_array_equal(obs, np.asarray(n_obs)[2:])
    step = jax.jit(env.step)
    assert info["alive"].tolist() == [True, True] and info["enemies_alive"] == 2
    rng = np.random.default_rng(0)
    for _ in range(12):
        mine = rng.integers(0, 27, 2)
        obs, reward, terminated, truncated, info = gym.step(mine)
        key, k = jax.random.split(key)
        _, k_env = jax.random.split(k)
        action = jnp.asarray([16, 16, *mine], jnp.int32)
        n_obs, state, n_reward, _, n_info = step(k_env, state, action)
        np.testing.assert_array_equal(obs, np.asarray(n_obs)[2:])
        np.testing.assert_allclose(reward, float(np.asarray(n_reward)[2:].sum()), rtol=1e-6)
        assert info["winner"] == int(n_info["winner"])
        if terminated or truncated:
            break
    assert truncated or terminated


def test_gymnasium_bad_input():
    with pytest.raises(ValueError, match="unknown scripted policy 'chase'"):
        GymnasiumEnv(NAME, opponent="chase")
    with pytest.raises(ValueError, match="team must be 0"):
        GymnasiumEnv(NAME, team=2)
    gym = GymnasiumEnv(NAME)
    gym.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2,\), got \(4,\)"):
        gym.step(np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="integers in 0..26, got \\[0, 27\\]"):
        gym.step(np.array([0, 27]))


def test_agent_names_follow_the_agent_axis():
    env = gj.make("identical_5_vs_1_fobs_vec_void_disc") if "identical_5_vs_1_fobs_vec_void_disc" in gj.list_scenarios() \
        else gj.make(NAME)
    names = agent_names(env)
    teams = np.asarray(env.teams)
    assert len(names) == env.n_agents
    assert all(n.startswith("team_a_") == (t == 0) for n, t in zip(names, teams))
