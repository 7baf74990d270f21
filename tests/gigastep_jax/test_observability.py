"""Partial observability (detection cone and probability, team sharing) and the vector observation.

Detection rule (Gigastep): within distance 1 always; else inside the +-135 deg cone with probability
1 - d^2 / (9 * range); inside the +-45 deg damage cone and the detection radius 3 * sqrt(range)
always; nothing outside the cone. A teammate at distance d shares what it knows with probability
1 - d / 8.

Rates are measured over N_SAMPLES independent keys and must lie within 4 standard errors of a
binomial, 4 * sqrt(p (1 - p) / N_SAMPLES) (<= 0.0142 for 20000 samples).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gigastep_jax as gj
from gigastep_jax import dynamics, observe
from gigastep_jax.observe import vector
from tests.conftest import builder_env, f32, place

N_SAMPLES = 20_000
KEYS = jax.random.split(jax.random.PRNGKey(42), N_SAMPLES)


def assert_rate(hits, p: float, n: int):
    rate = float(np.mean(np.asarray(hits)))
    tol = 4 * math.sqrt(p * (1 - p) / n)
    assert abs(rate - p) <= tol, f"rate {rate:.4f}, expected {p:.4f} +- {tol:.4f}"


# ------------------------------------------------------------------ detection (pure function)
@pytest.fixture(scope="module")
def detect():
    """(d, bearing_deg, params) -> bool[N_SAMPLES]: agent 0 (team A) detects agent 1 (team B)."""
    env = builder_env(1, 1, observability="pobs")
    team = env.teams
    alive = jnp.ones(2, bool)

    @jax.jit
    def run(d2, cos_b, params):
        one = lambda k: dynamics.detection(k, d2, cos_b, alive, team, params, True)[0, 1]  # noqa: E731
        return jax.vmap(one)(KEYS)

    def sample(d: float, bearing_deg: float, detection_range: float = 1.0):
        d2 = f32(0.0, d * d, d * d, 0.0).reshape(2, 2)
        c = math.cos(math.radians(bearing_deg))
        cos_b = f32(0.0, c, c, 0.0).reshape(2, 2)
        params = env.params.replace(detection_range=f32(detection_range, detection_range))
        return np.asarray(run(d2, cos_b, params))

    return sample


@pytest.mark.parametrize(
    "d, bearing, detection_range",
    [(1.5, 90.0, 1.0), (2.0, 90.0, 1.0), (2.5, 90.0, 1.0), (2.0, -120.0, 1.0), (2.0, 60.0, 1.0), (3.5, 90.0, 2.0)],
)
def test_detection_probability_in_cone(detect, d, bearing, detection_range):
    """Inside +-135 deg, outside the +-45 deg damage cone, beyond distance 1: 1 - d^2 / (9 range)
    (d = 1.5: 0.75; 2: 0.556; 2.5: 0.306; range 2, d = 3.5: 0.319)."""
    p = 1 - d * d / (9 * detection_range)
    assert_rate(detect(d, bearing, detection_range), p, N_SAMPLES)


@pytest.mark.parametrize("bearing", [180.0, 140.0, -150.0])
def test_nothing_seen_outside_cone(detect, bearing):
    assert not detect(2.0, bearing).any()


def test_nothing_seen_beyond_range(detect):
    assert not detect(3.05, 90.0).any()  # 1 - 3.05^2 / 9 < 0
    assert not detect(3.05, 0.0).any()  # not even dead ahead


@pytest.mark.parametrize("bearing", [0.0, 90.0, 180.0])
def test_always_seen_within_distance_one(detect, bearing):
    assert detect(0.9, bearing).all()


@pytest.mark.parametrize("d, bearing", [(2.0, 30.0), (2.9, 0.0), (2.9, -44.0)])
def test_always_seen_in_damage_cone_within_range(detect, d, bearing):
    assert detect(d, bearing).all()


def test_full_observability_sees_every_alive_enemy():
    env = builder_env(2, 2)
    team = env.teams
    alive = jnp.asarray([True, True, True, False])
    d2 = jnp.full((4, 4), 50.0, jnp.float32)
    cos_b = jnp.full((4, 4), -1.0, jnp.float32)  # far and behind: pobs would see nothing
    det = dynamics.detection(KEYS[0], d2, cos_b, alive, team, env.params, False)
    expected = (np.asarray(team)[:, None] != np.asarray(team)[None, :]) & np.outer(alive, alive)
    np.testing.assert_array_equal(np.asarray(det), expected)


def test_detection_end_to_end():
    """pobs 1v1 through `Env.transition`: agent 1 flies 2 to the left of agent 0 (both heading +x,
    bearing +-90 deg), detected with probability 1 - 4 / 9 either way; the vector observation shows
    the enemy exactly when it was detected (no teammates to share)."""
    env = builder_env(1, 1, observability="pobs", discrete=False)
    state = place(env.reset_state(KEYS[0]), x=[50.0, 50.0], y=[50.0, 52.0], z=[5.0, 5.0], v=[1.3, 1.3], heading=[0.0, 0.0])
    action = jnp.zeros((2, 3), jnp.float32)

    @jax.jit
    def run(keys):
        def one(k):
            k1, k2 = jax.random.split(k)
            new, *_ = env.transition(k1, state, action)
            return new.detected, env.observe(k2, new), new
        return jax.vmap(one)(keys)

    detected, obs, new = run(KEYS[:4000])
    assert np.allclose(np.asarray(new.y[:, 1] - new.y[:, 0]), 2.0, atol=1e-5)
    detected = np.asarray(detected)
    assert_rate(detected[:, 0, 1], 5 / 9, 4000)
    assert_rate(detected[:, 1, 0], 5 / 9, 4000)
    # the draws of the two agents are independent of each other
    both = float(np.mean(detected[:, 0, 1] & detected[:, 1, 0]))
    assert abs(both - (5 / 9) ** 2) < 4 * math.sqrt(0.31 * 0.69 / 4000)
    obs = np.asarray(obs)  # [4000, 2, 18]: row 0 ego, row 1 the enemy
    np.testing.assert_array_equal(obs[:, 0, 9] == 1.0, detected[:, 0, 1])
    np.testing.assert_array_equal(obs[:, 1, 9] == 1.0, detected[:, 1, 0])
    np.testing.assert_array_equal(obs[~detected[:, 0, 1], 0, 9:], 0.0)  # unseen row all zero
    np.testing.assert_array_equal(obs[:, :, 0], 1.0)  # egos see themselves


# ------------------------------------------------------------------ team sharing
@pytest.fixture(scope="module")
def share():
    """Agents 0, 1 team A, 2 team B; agent 1 detected agent 2, agent 0 detected nothing.
    (d, alive_1) -> bool[N_SAMPLES, 3, 3] seen by `observe.visibility`."""
    env = builder_env(2, 1, observability="pobs")
    base = env.reset_state(KEYS[0])
    detected = jnp.asarray([[False, False, False], [False, False, True], [False, False, False]])
    run = jax.jit(jax.vmap(lambda k, s: observe.visibility(k, s, env.teams, env.params, True), in_axes=(0, None)))

    def sample(d: float, alive_1: bool = True):
        state = place(base, x=[50.0, 50.0 + d, 60.0], y=[50.0, 50.0, 50.0], alive=[True, alive_1, True], detected=detected)
        return np.asarray(run(KEYS, state))

    return sample


@pytest.mark.parametrize("d", [2.0, 4.0, 6.0])
def test_team_sharing_probability(share, d):
    seen = share(d)
    assert_rate(seen[:, 0, 2], 1 - d / 8, N_SAMPLES)  # 0.75, 0.5, 0.25
    # the teammate is seen exactly when it shares (same draw)
    np.testing.assert_array_equal(seen[:, 0, 1], seen[:, 0, 2])
    assert seen[:, 1, 2].all()  # agent 1 knows what it detected
    assert seen[:, 0, 0].all() and seen[:, 1, 1].all() and seen[:, 2, 2].all()  # egos know themselves
    assert not seen[:, 2, :2].any()  # agent 2 detected nobody and has no teammate


def test_no_sharing_beyond_communication_range(share):
    assert not share(8.5)[:, 0, 2].any()


def test_dead_teammate_shares_nothing(share):
    assert not share(2.0, alive_1=False)[:, 0, 2].any()


# ------------------------------------------------------------------ vector observation layout
@pytest.fixture(scope="module")
def five():
    env = gj.make("identical_5_vs_5_fobs_vec_void_disc")
    return env, jax.jit(env.observe)


def hand_state(env):
    """Agent 0 (team A) at (2, 3), z = 4, heading 0.5, v = 2, health 0.8; the rest in a row."""
    state = env.reset_state(KEYS[0])
    return place(
        state,
        x=[2.0, 2.5, 4.0, 6.0, 8.0, 2.0, 3.0, 5.0, 7.0, 9.0],
        y=[3.0, 3.0, 3.0, 3.0, 3.0, 4.0, 6.0, 8.0, 9.0, 9.5],
        z=[4.0, 5.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0],
        v=[2.0, 1.5, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3],
        heading=[0.5, 3.0, 0, 0, 0, 0, 0, 0, 0, 0],
        health=[0.8, 0.6, 1, 1, 1, 1, 1, 1, 1, 1],
    )


def test_ego_row_and_nearest_row_by_hand(five):
    env, obs_fn = five
    obs = np.asarray(obs_fn(KEYS[0], hand_state(env)))
    assert obs.shape == (10, 90) and obs.dtype == np.float32
    diag = math.hypot(10, 10)
    # ego row: seen, same team, x / W, y / H, z / 10, heading, v / diag, health, sprite (default: 1)
    np.testing.assert_allclose(obs[0, :9], [1, 1, 0.2, 0.3, 0.4, 0.5, 2 / diag, 0.8, 1], atol=1e-6)
    # nearest to agent 0: agent 1 at distance 0.5 (dx = 0.5, dy = 0, dz = 1, dheading = 2.5, dv = -0.5)
    np.testing.assert_allclose(obs[0, 9:18], [1, 1, 0.05, 0.0, 0.1, 2.5, -0.5 / diag, 0.6, 1], atol=1e-6)
    # second nearest: agent 5 (team B) at (2, 4): dx = 0, dy = 0.1 * 10, heading 0 - 0.5
    np.testing.assert_allclose(obs[0, 18:27], [1, 0, 0.0, 0.1, -0.2, -0.5, -0.7 / diag, 1, 1], atol=1e-6)
    # agent 1's view of agent 0: heading difference 0.5 - 3.0 = -2.5; agent 1's own heading 3.0
    np.testing.assert_allclose(obs[1, :9], [1, 1, 0.25, 0.3, 0.5, 3.0, 1.5 / diag, 0.6, 1], atol=1e-6)
    np.testing.assert_allclose(obs[1, 9:18], [1, 1, -0.05, 0.0, -0.1, -2.5, 0.5 / diag, 0.8, 1], atol=1e-6)


def test_rows_sorted_by_distance(five):
    env, obs_fn = five
    obs = np.asarray(obs_fn(KEYS[0], hand_state(env))).reshape(10, 10, 9)
    rel = obs[:, 1:]  # rows after the ego
    dist = np.hypot(rel[..., 2] * 10, rel[..., 3] * 10)
    assert (np.diff(dist, axis=1) >= -1e-5).all()
    assert (obs[:, :, 0] == 1).all()  # full observability: everybody seen
    # each ego's rows hold every other agent once: team flags sum to 4 teammates + the ego
    np.testing.assert_array_equal(obs[:, :, 1].sum(1), 5)


def test_unseen_rows_are_zero(five):
    """Dead agents are not seen: with agents 7, 8, 9 dead the last 3 rows of each live ego are zero."""
    env, obs_fn = five
    state = place(hand_state(env), alive=[True] * 7 + [False] * 3, health=[0.8, 0.6, 1, 1, 1, 1, 1, 0, 0, 0])
    obs = np.asarray(obs_fn(KEYS[0], state)).reshape(10, 10, 9)
    np.testing.assert_array_equal(obs[:7, 7:], 0.0)
    assert (obs[:7, :7, 0] == 1).all()


def test_keeps_the_nearest_when_crowded():
    """20 agents, 15 rows: the ego and its 14 nearest, nearest first."""
    env = gj.make("identical_10_vs_10_fobs_vec_void_disc")
    state = env.reset_state(KEYS[1])
    obs = np.asarray(jax.jit(env.observe)(KEYS[0], state)).reshape(20, 15, 9)
    x, y = np.asarray(state.x), np.asarray(state.y)
    for ego in (0, 7, 13):
        d = np.hypot(x - x[ego], y - y[ego])
        d[ego] = -1
        want = np.sort(d)[1:15]
        got = np.hypot(obs[ego, 1:, 2] * 10, obs[ego, 1:, 3] * 10)
        np.testing.assert_allclose(got, want, atol=1e-4)


def _nearest_by_sorting(seen, d2, k):
    """The order nearest_rows promises, by Python's sort: ego, then seen by distance, then unseen,
    ties by index."""
    n = seen.shape[0]
    rows = []
    for e in range(n):
        order = sorted(range(n), key=lambda t: (t != e, not seen[e, t], d2[e, t] if seen[e, t] else 0.0, t))
        rows.append(order[:k])
    return np.asarray(rows)


@pytest.mark.parametrize("n, k", [(2, 2), (10, 10), (17, 15), (40, 15), (65, 15)])
@pytest.mark.parametrize("bitonic", [False, True], ids=["counting", "bitonic"])
def test_nearest_rows_order(n, k, bitonic, monkeypatch):
    """Both rankers (counting and the bitonic network) give the sorted order, with exact distance
    ties (distances on a coarse grid) broken by index."""
    monkeypatch.setattr(vector, "BITONIC_ABOVE", 0 if bitonic else 10**6)
    rng = np.random.default_rng(n)
    d2 = rng.integers(0, 40, (3, n, n)).astype(np.float32) / 4  # many exact ties
    seen = rng.uniform(size=(3, n, n)) < 0.7
    got = np.asarray(jax.jit(jax.vmap(lambda s, d: observe.nearest_rows(s, d, k)))(seen, d2))
    for b in range(3):
        np.testing.assert_array_equal(got[b], _nearest_by_sorting(seen[b], d2[b], k))


@pytest.mark.parametrize(
    "name, width",
    [
        ("identical_1_vs_1_fobs_vec_void_disc", 9 * 2),
        ("identical_5_vs_5_pobs_vec_void_cont", 9 * 10),
        ("special_5_vs_1_fobs_vec_void_disc", 9 * 6),
        ("identical_10_vs_10_fobs_vec_void_disc", 9 * 15),
        ("identical_20_vs_20_pobs_vec_void_disc", 9 * 15),
        ("identical_5_vs_5_fobs_vec_maps_disc", 9 * 10 + 4 * 4),  # 4 boxes at most (four_rooms)
        ("waypoint_5_vs_5_fobs_vec_void_disc", 9 * 10 + 5),
        ("waypoint_5_vs_3_pobs_vec_maps_cont", 9 * 8 + 5 + 4 * 4),
        ("identical_20_vs_20_fobs_vec_maps_cont", 9 * 15 + 4 * 4),
    ],
)
def test_obs_width(name, width):
    env = gj.make(name)
    assert env.obs_shape == (width,)
    obs, _ = jax.eval_shape(env.reset, KEYS[0])
    assert obs.shape == (env.n_agents, width)
