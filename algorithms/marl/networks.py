"""Flax actor and critic networks, and the distrax action distributions built from their outputs.

Networks return logits (27 discrete actions) or Beta concentrations (continuous [-1, 1]^3); the
distribution is built where it is used (`distribution`, in the loss and the rollout), since distrax
objects under `vmap` are documented as experimental.

Every network acts on the trailing axes of its inputs, so any leading axes ([B, N], [T, B, N], ...)
pass through in order: agents are never flattened and reshaped apart from their environment.
Inputs per agent: its observation and `agent_features` (team one-hot, slot-in-team one-hot), so
teams of different unit types and sizes share one network.
"""

from __future__ import annotations

from dataclasses import dataclass

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from algorithms.marl.layout import AgentLayout
from gigastep_jax.observe import ROW_FEATURES, RowFeature

ENCODERS = ("mlp", "attention", "cnn")


# ----------------------------------------------------------------------------- encoders
EGO_EXTRA = 7  # features `egocentric` adds to each agent row


def egocentric(obs: jax.Array, rows: int) -> tuple[jax.Array, jax.Array]:
    """Vector observation [..., F] -> (agent rows [..., R * (9 + 7)], the rest [..., F - 9 R]): each
    agent row of 9 gains 7 features in the ego's frame: forward, left, distance, cos and sin of the
    relative heading, and the two aims, cos of the angle between the ego's heading and the agent's
    bearing, and between the agent's heading and the ego's bearing from it (damage needs the target
    inside the attacker's +-45 degree cone). The ego row gains the cos and sin of its own heading and
    the arena centre's offset in its frame.

    Gigastep's observation gives other agents' offsets in the world frame and headings as angles, so
    "turn toward that enemy" is atan2 minus heading and "is it aiming at me" a product of rotations:
    functions an MLP learns slowly. This featuriser is the learner's choice; the environment's
    observation is unchanged.
    """
    agents = obs[..., : rows * ROW_FEATURES].reshape(obs.shape[:-1] + (rows, ROW_FEATURES))
    h = agents[..., 0, RowFeature.HEADING][..., None]  # the ego's absolute heading
    c, s = jnp.cos(h), jnp.sin(h)
    dx, dy, dh = agents[..., RowFeature.DX], agents[..., RowFeature.DY], agents[..., RowFeature.HEADING]
    fwd, left = c * dx + s * dy, -s * dx + c * dy
    dist = jnp.sqrt(dx * dx + dy * dy)
    seen = agents[..., RowFeature.SEEN]
    inv = seen / jnp.maximum(dist, 1e-6)
    c_t, s_t = jnp.cos(h + dh), jnp.sin(h + dh)  # the agent's own heading
    my_aim, its_aim = fwd * inv, -(c_t * dx + s_t * dy) * inv
    extra = jnp.stack([fwd, left, dist, jnp.cos(dh) * seen, jnp.sin(dh) * seen, my_aim, its_aim], axis=-1)  # [..., R, 7]
    # The ego row: its own heading and the centre's offset in its frame (it must not fly out).
    cx, cy = 0.5 - agents[..., 0, RowFeature.DX], 0.5 - agents[..., 0, RowFeature.DY]
    ego = jnp.stack([c[..., 0], s[..., 0], c[..., 0] * cx + s[..., 0] * cy, -s[..., 0] * cx + c[..., 0] * cy,
                     jnp.sqrt(cx * cx + cy * cy), jnp.zeros_like(cx), jnp.zeros_like(cx)], axis=-1)
    extra = extra.at[..., 0, :].set(ego)
    return (jnp.concatenate([agents, extra], axis=-1).reshape(obs.shape[:-1] + (rows * (ROW_FEATURES + EGO_EXTRA),)),
            obs[..., rows * ROW_FEATURES:])


def _dense(features: int, scale: float = np.sqrt(2)) -> nn.Dense:
    return nn.Dense(features, kernel_init=nn.initializers.orthogonal(scale), bias_init=nn.initializers.zeros)


class Encoder(nn.Module):
    """Observation [..., F] (vector) or [..., H, W, 3] uint8 (image) and features [..., E] -> [..., hidden].

    "mlp": two dense layers over the whole vector. "attention": the observation's agent rows [R, 9]
    embedded, one multi-head self-attention over them (unseen rows masked), the ego row's output,
    then the rest of the vector (waypoint, obstacles). "cnn": a small convolutional torso (images).
    """

    kind: str = "mlp"
    hidden: int = 128
    rows: int = 0  # agent rows in a vector observation
    ego_frame: bool = True  # add `egocentric` features to vector observations

    @nn.compact
    def __call__(self, obs: jax.Array, feats: jax.Array) -> jax.Array:
        lead = obs.shape[:-3] if self.kind == "cnn" else obs.shape[:-1]
        feats = jnp.broadcast_to(feats, lead + feats.shape[-1:])  # [N, E] -> [..., N, E]
        if self.kind == "cnn":
            x = obs.reshape((-1,) + obs.shape[-3:]).astype(jnp.float32) / 255.0
            x = nn.relu(nn.Conv(16, (8, 8), strides=(4, 4), padding="VALID")(x))
            x = nn.relu(nn.Conv(32, (4, 4), strides=(2, 2), padding="VALID")(x))
            x = x.reshape(lead + (-1,))
            x = jnp.concatenate([x, feats], axis=-1)
            return nn.relu(_dense(self.hidden)(x))
        r, width = self.rows, ROW_FEATURES
        agents, rest = obs[..., : r * ROW_FEATURES], obs[..., r * ROW_FEATURES:]
        if self.ego_frame:
            agents, rest = egocentric(obs, r)
            width = ROW_FEATURES + EGO_EXTRA
        if self.kind == "attention":
            agents = agents.reshape(obs.shape[:-1] + (r, width))
            e = nn.relu(_dense(self.hidden)(agents))
            seen = agents[..., RowFeature.SEEN] > 0.5
            seen = seen.at[..., 0].set(True)  # the ego row is always there
            mask = seen[..., None, None, :]  # [..., heads, q, k] broadcast
            e = e + nn.MultiHeadDotProductAttention(num_heads=4, qkv_features=self.hidden)(e, e, mask=mask)
            x = jnp.concatenate([e[..., 0, :], rest, feats], axis=-1)
            return nn.relu(_dense(self.hidden)(x))
        x = jnp.concatenate([agents, rest, feats], axis=-1)
        x = nn.relu(_dense(self.hidden)(x))
        return nn.relu(_dense(self.hidden)(x))


# ----------------------------------------------------------------------------- actor and critics
class ActionHead(nn.Module):
    """[..., H] -> logits float32[..., n_actions] (discrete) or Beta concentrations float32[..., 3, 2] (> 1)."""

    discrete: bool = True
    n_actions: int = 27

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.discrete:
            return _dense(self.n_actions, 0.01)(x)
        out = _dense(6, 0.01)(x).reshape(x.shape[:-1] + (3, 2))
        return 1.0 + nn.softplus(out)


class Actor(nn.Module):
    """Per agent: logits float32[..., 27] (discrete) or Beta concentrations float32[..., 3, 2] (> 1)."""

    discrete: bool = True
    n_actions: int = 27
    encoder: str = "mlp"
    hidden: int = 128
    rows: int = 0
    ego_frame: bool = True

    @nn.compact
    def __call__(self, obs: jax.Array, feats: jax.Array) -> jax.Array:
        x = Encoder(self.encoder, self.hidden, self.rows, self.ego_frame)(obs, feats)
        return ActionHead(self.discrete, self.n_actions)(x)


class RecurrentActor(Actor):
    """Actor with a GRU after the encoder, for partial observability: one step
    (memory [..., N, H], obs, feats) -> (memory, output as `Actor`). Memory starts at zeros."""

    @nn.compact
    def __call__(self, memory: jax.Array, obs: jax.Array, feats: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = Encoder(self.encoder, self.hidden, self.rows, self.ego_frame)(obs, feats)
        memory, y = nn.GRUCell(self.hidden)(memory, x)
        return memory, ActionHead(self.discrete, self.n_actions)(y)


class Critic(nn.Module):
    """Values float32[..., S] of one team's agents, from their observations [..., S, F].

    A team is S slots (`AgentLayout`): feats [..., S, E] each slot's agent features, team int32[...]
    which team it is, valid bool[..., S] the slots that hold an agent (a smaller team is padded).
    centralised=True (MAPPO): the slots' embeddings are concatenated (padding zeroed) with the team's
    one-hot, and a team head gives one value per slot. centralised=False (IPPO): each agent's value
    from its own observation. `team_values` applies it to every team of whole environments.
    """

    layout: AgentLayout
    centralised: bool = True
    encoder: str = "mlp"
    hidden: int = 128
    rows: int = 0
    ego_frame: bool = True

    @nn.compact
    def __call__(self, obs: jax.Array, feats: jax.Array, team: jax.Array, valid: jax.Array) -> jax.Array:
        x = Encoder(self.encoder, self.hidden, self.rows, self.ego_frame)(obs, feats)  # [..., S, H]
        if not self.centralised:
            return _dense(1, 1.0)(x)[..., 0]
        x = x * valid[..., None]
        x = x.reshape(x.shape[:-2] + (-1,))
        x = jnp.concatenate([x, jax.nn.one_hot(jnp.broadcast_to(team, x.shape[:-1]), 2)], axis=-1)
        h = nn.relu(_dense(self.hidden)(x))
        return _dense(self.layout.max_team, 1.0)(h)


def team_inputs(layout: AgentLayout, obs: jax.Array, obs_rank: int = 1) -> tuple:
    """`Critic` inputs for both teams of whole environments: obs [..., N, *obs_shape] (obs_rank =
    len(obs_shape): 1 for vectors, 3 for images) -> (obs [..., 2, S, *obs_shape], feats [2, S, E],
    team int32[2], valid bool[2, S])."""
    teams = layout.gather_teams(obs, axis=obs.ndim - obs_rank - 1)
    valid = np.asarray(layout.index) < layout.n_agents
    return teams, layout.gather_teams(layout.features()), jnp.arange(2), valid


def team_values(critic: Critic, params, obs: jax.Array, obs_rank: int = 1) -> jax.Array:
    """Values float32[..., N] of every agent of whole environments, obs [..., N, *obs_shape]."""
    return critic.layout.scatter_agents(critic.apply(params, *team_inputs(critic.layout, obs, obs_rank)))


# ----------------------------------------------------------------------------- distributions
def distribution(out: jax.Array, discrete: bool) -> distrax.Distribution:
    """The action distribution of an actor output: Categorical over 27, or a Beta per control on
    [0, 1] (mapped to [-1, 1] by `to_action`); batch shape the output's leading axes."""
    if discrete:
        return distrax.Categorical(logits=out)
    return distrax.Independent(distrax.Beta(out[..., 0], out[..., 1]), 1)


BETA_EPS = 1e-6


def sample(key: jax.Array, out: jax.Array, discrete: bool) -> tuple[jax.Array, jax.Array]:
    """(action int32[...] or float32[..., 3] in [-1, 1], its log-probability float32[...]).

    Discrete actions by the inverse CDF, one uniform per agent: the same distribution as
    `distrax.Categorical.sample`, whose Gumbel trick draws a Threefry uniform per logit (27 per
    agent), which was 60 % of the actor's forward pass in the rollout on CPU.
    """
    if discrete:
        log_p = jax.nn.log_softmax(out, axis=-1)
        cdf = jnp.cumsum(jnp.exp(log_p), axis=-1)
        u = jax.random.uniform(key, out.shape[:-1] + (1,))
        action = jnp.minimum((cdf <= u).sum(axis=-1), out.shape[-1] - 1).astype(jnp.int32)
        return action, jnp.take_along_axis(log_p, action[..., None], axis=-1)[..., 0]
    dist = distribution(out, discrete)
    x = dist.sample(seed=key)
    x = jnp.clip(x, BETA_EPS, 1.0 - BETA_EPS)
    return 2.0 * x - 1.0, dist.log_prob(x)


def log_prob(out: jax.Array, action: jax.Array, discrete: bool) -> jax.Array:
    """Log-probability of an action taken by `sample` (the Beta's, on [0, 1]; the constant Jacobian
    of the map to [-1, 1] cancels in every ratio)."""
    dist = distribution(out, discrete)
    if discrete:
        return dist.log_prob(action)
    return dist.log_prob(jnp.clip((action + 1.0) / 2.0, BETA_EPS, 1.0 - BETA_EPS))


def greedy(out: jax.Array, discrete: bool) -> jax.Array:
    """The mode: argmax logit, or the Beta's mode (alpha - 1) / (alpha + beta - 2) mapped to [-1, 1]."""
    if discrete:
        return jnp.argmax(out, axis=-1).astype(jnp.int32)
    a, b = out[..., 0], out[..., 1]
    return 2.0 * (a - 1.0) / jnp.maximum(a + b - 2.0, 1e-6) - 1.0


# ----------------------------------------------------------------------------- one scenario's networks
@dataclass(frozen=True, eq=False)
class ActorCritic:
    """The actor and critic of one scenario with their static inputs, and the calls the learner makes.

    Shapes: N agents, H memory size (0 for a feed-forward actor), A the actor's output per agent.
    """

    actor: nn.Module  # Actor or RecurrentActor
    critic: Critic
    layout: AgentLayout
    discrete: bool
    memory_size: int
    obs_shape: tuple[int, ...]
    obs_dtype: object
    feats: jax.Array  # float32[N, E] every agent's team and slot features (`AgentLayout.features`)

    def init(self, key: jax.Array) -> dict:
        """{"actor": ..., "critic": ...} parameters."""
        obs = jnp.zeros((self.layout.n_agents,) + self.obs_shape, self.obs_dtype)
        k_a, k_c = jax.random.split(key)
        if self.memory_size:
            actor = self.actor.init(k_a, self.initial_memory(()), obs, self.feats)
        else:
            actor = self.actor.init(k_a, obs, self.feats)
        critic = self.critic.init(k_c, *team_inputs(self.layout, obs, len(self.obs_shape)))
        return dict(actor=actor, critic=critic)

    def initial_memory(self, lead: tuple[int, ...]) -> jax.Array:
        """float32[*lead, N, H] zeros."""
        return jnp.zeros(tuple(lead) + (self.layout.n_agents, self.memory_size), jnp.float32)

    def step(self, actor_params, memory: jax.Array, obs: jax.Array,
             feats: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """One step of the actor: (memory [..., N, H], obs [..., N, *obs_shape]) -> (memory, out [..., N, A]).
        With `feats` [M, E] (`self.feats[rows]`), obs and memory are those M agents' rows."""
        feats = self.feats if feats is None else feats
        if self.memory_size:
            return self.actor.apply(actor_params, memory, obs, feats)
        return memory, self.actor.apply(actor_params, obs, feats)

    def sequence(self, actor_params, memory: jax.Array, obs: jax.Array, start: jax.Array,
                 feats: jax.Array | None = None) -> jax.Array:
        """Actor outputs over a trajectory: memory [B, N, H] before obs[0], obs [T, B, N, ...], start
        bool[T, B] (memory reset before that step), feats [N, E] (default) or [B, N, E] -> out
        [T, B, N, A]. B and N may be any rows and slots (`TrainedTeams.gather`)."""
        feats = self.feats if feats is None else feats
        if not self.memory_size:
            return self.actor.apply(actor_params, obs, feats)

        def step(m, x):
            o, st = x
            m = jnp.where(st[:, None, None], 0.0, m)
            return self.actor.apply(actor_params, m, o, feats)

        return jax.lax.scan(step, memory, (obs, start))[1]

    def values(self, critic_params, obs: jax.Array) -> jax.Array:
        """float32[..., N]: the critic's value of every agent, obs [..., N, *obs_shape]."""
        return team_values(self.critic, critic_params, obs, len(self.obs_shape))


def make_actor_critic(env, *, encoder: str = "mlp", hidden: int = 64, centralised: bool = True,
                      recurrent: bool = False, ego_frame: bool = True) -> ActorCritic:
    """The networks for `env`: its vector rows (`env.vector_layout`) read by the encoder, ego-frame
    features for vector observations only, a GRU actor with `recurrent`."""
    layout = AgentLayout.of(env)
    rows = 0 if encoder == "cnn" else env.vector_layout.rows
    ego = ego_frame and encoder != "cnn"
    actor_cls = RecurrentActor if recurrent else Actor
    actor = actor_cls(env.discrete, env.n_actions if env.discrete else 3, encoder, hidden, rows, ego)
    critic = Critic(layout, centralised, encoder, hidden, rows, ego)
    return ActorCritic(actor, critic, layout, env.discrete, hidden if recurrent else 0, tuple(env.obs_shape),
                       env.obs_dtype, layout.features())
