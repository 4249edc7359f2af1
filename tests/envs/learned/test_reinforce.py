"""A short REINFORCE loop on the vector env: the learned reward signal responds to the policy.

The checkpoint has random weights, so its reward head is an arbitrary but deterministic function
of the generated frame, its history and the action that led to it (``action_gain=10`` so that the
action matters by more than the spread over states). The policy is a linear
softmax over 4 macro-actions on 4×4-downsampled frames, trained with REINFORCE (returns-to-go,
batch-mean baseline, Adam) through the torch interface (``step_torch``) for ~2,500 env-steps.
Everything is seeded, so the assertion is deterministic, not a flaky statistical one: the trained
policy's average reward on held-out seeds beats the initial (uniform) policy's.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

import envs  # noqa: F401  (registers the ids)
from simworld import actions as A

N, HORIZON, ITERATIONS = 32, 8, 10


def macro_actions() -> torch.Tensor:
    """float (4, 21): noop, forward, jump, turn right 30 degrees."""
    out = []
    for key in (None, "forward", "jump", "camera"):
        action = A.noop()
        if key == "camera":
            action["camera"] = np.array([0.0, 30.0], np.float32)
        elif key is not None:
            action[key] = 1
        out.append(A.to_flat(action))
    return torch.from_numpy(np.stack(out))


class Policy(torch.nn.Module):
    """Linear softmax policy over macro-actions from 4×4×3 average-pooled frames."""

    def __init__(self, num_actions: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(48, num_actions)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, frames: torch.Tensor) -> torch.distributions.Categorical:
        x = frames.permute(0, 3, 1, 2).float() / 255.0  # (N, 3, H, W)
        x = F.adaptive_avg_pool2d(x, 4).flatten(1)  # (N, 48)
        return torch.distributions.Categorical(logits=self.linear(x))


def run_episodes(env, policy: Policy, macros: torch.Tensor, seed: int, learn: bool):
    """One batch of N episodes of HORIZON steps; returns (mean reward per step, loss or None)."""
    obs = torch.from_numpy(env.reset(seed=seed)[0])
    log_probs, rewards = [], []
    with torch.set_grad_enabled(learn):
        for _ in range(HORIZON):
            dist = policy(obs)
            choice = dist.sample()
            obs, reward, _, _, _ = env.step_torch(macros[choice])
            log_probs.append(dist.log_prob(choice))
            rewards.append(reward.float())
    rewards_t = torch.stack(rewards)  # (HORIZON, N)
    if not learn:
        return float(rewards_t.mean()), None
    returns = torch.flip(torch.cumsum(torch.flip(rewards_t, [0]), 0), [0])  # returns-to-go
    advantage = returns - returns.mean(dim=1, keepdim=True)
    loss = -(torch.stack(log_probs) * advantage).mean()
    return float(rewards_t.mean()), loss


def evaluate(env, policy: Policy, macros: torch.Tensor) -> float:
    torch.manual_seed(1234)
    return float(np.mean([run_episodes(env, policy, macros, 10_000 + 97 * k, False)[0] for k in range(2)]))


def test_reinforce_improves_the_learned_reward(action_checkpoint):
    torch.manual_seed(0)
    # no termination, episodes of exactly HORIZON steps; each batch starts with an explicit reset
    env = gym.make_vec(
        "simworld/WorldModel-v0", num_envs=N, checkpoint=action_checkpoint, termination_threshold=1.0,
        max_episode_steps=HORIZON + 1, report_latency=False, num_inference_steps=1,
    )  # fmt: skip
    macros = macro_actions()
    policy = Policy(len(macros))
    before = evaluate(env, policy, macros)
    optimizer = torch.optim.Adam(policy.parameters(), lr=0.1)
    steps = 0
    for it in range(ITERATIONS):
        _, loss = run_episodes(env, policy, macros, seed=it * N, learn=True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += N * HORIZON
    after = evaluate(env, policy, macros)
    assert steps >= 2_500
    print(f"mean reward per step: {before:.4f} -> {after:.4f}")
    assert after > before + 0.01, (before, after)
    probs = policy(torch.zeros(1, 16, 16, 3, dtype=torch.uint8)).probs[0]
    assert probs.max() > 0.4  # the policy moved away from uniform (0.25)
