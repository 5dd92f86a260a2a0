"""genlib.nn.FusedAdam: the short road to torch's fused Adam kernel gives torch's own Adam updates."""

import copy

import pytest
import torch
import torch.optim.optimizer as torch_optimizer

from genlib.nn import MLP, FusedAdam, TensorAdam, adam


def _train(make_optimizer, steps: int = 30, reload_at: int | None = None) -> list[torch.Tensor]:
    torch.manual_seed(0)
    net = MLP(6, (16, 16), 3)
    data = torch.randn(64, 6)
    opt = make_optimizer(net.parameters())
    for step in range(steps):
        if step == reload_at:  # a state dict round trip (TrainingRun restores one after a non-finite loss)
            state = opt.state_dict()
            opt = make_optimizer(net.parameters())
            opt.load_state_dict(state)
        loss = net(data).pow(2).mean()
        for p in net.parameters():
            p.grad = None
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in net.parameters()]


def test_fused_adam_is_bit_for_bit_torch_fused_adam():
    ours = _train(lambda p: FusedAdam(p, lr=1e-2))
    theirs = _train(lambda p: torch.optim.Adam(p, lr=1e-2, fused=True))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_fused_adam_matches_default_adam_and_survives_a_state_dict_round_trip():
    ours = _train(lambda p: FusedAdam(p, lr=1e-2), reload_at=11)
    theirs = _train(lambda p: torch.optim.Adam(p, lr=1e-2), reload_at=11)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not all(torch.equal(a, b) for a, b in zip(ours, _train(lambda p: FusedAdam(p, lr=1e-2), steps=29),
                                                     strict=True)), "the last step must change the weights"


@pytest.mark.parametrize("options", [{"amsgrad": True}, {"weight_decay": 0.1}, {"maximize": True}])
def test_options_outside_the_plain_case_go_through_adam_step(options):
    ours = _train(lambda p: FusedAdam(p, lr=1e-2, **options))
    theirs = _train(lambda p: torch.optim.Adam(p, lr=1e-2, fused=True, **options))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_parameters_without_a_gradient_are_left_alone():
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = adam([a, b], lr=0.1)
    assert isinstance(opt, FusedAdam)
    for _ in range(3):
        a.grad = torch.ones(3)
        opt.step()
    assert torch.equal(b, torch.ones(3)) and not torch.equal(a, torch.ones(3))
    assert opt.state[a]["step"].item() == 3 and b not in opt.state


def test_a_parameter_group_without_any_gradient_is_left_alone():
    """A whole group with no gradient this step (say, a part of the model the loss did not use)."""
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = FusedAdam([{"params": [a]}, {"params": [b]}], lr=0.1)
    for _ in range(3):
        a.grad = torch.ones(3)
        opt.step()
    assert torch.equal(b, torch.ones(3)) and opt.state[a]["step"].item() == 3 and b not in opt.state


def _steps(opt, params, n: int):
    """n steps of ``opt`` with gradients 1, 2, ..., n on ``params``."""
    for i in range(n):
        for p in params:
            p.grad = torch.full_like(p, i + 1.0)
        opt.step()


def _ones():
    return [torch.nn.Parameter(torch.ones(4)), torch.nn.Parameter(torch.ones(2, 3))]


def test_a_state_dict_loaded_into_the_same_optimiser_is_the_one_used():
    """The direct road keeps the state's tensors from step to step; loading a state dict replaces them."""
    ours, theirs = _ones(), _ones()  # FusedAdam's and torch's fused Adam's
    opt, ref = FusedAdam(ours, lr=0.1), torch.optim.Adam(theirs, lr=0.1, fused=True)
    _steps(opt, ours, 3)
    _steps(ref, theirs, 3)
    saved = copy.deepcopy(opt.state_dict())  # a state dict holds the live tensors
    _steps(opt, ours, 4)
    opt.load_state_dict(saved)  # back to step 3's moments (the weights go on from step 7's)
    with torch.no_grad():
        for p, q in zip(ours, theirs, strict=True):
            p.copy_(q)
    _steps(opt, ours, 2)
    _steps(ref, theirs, 2)
    assert all(torch.equal(p, q) for p, q in zip(ours, theirs, strict=True))
    assert opt.state[ours[0]]["step"].item() == 5


def test_parameters_added_or_losing_their_gradient_after_the_first_steps():
    ours, theirs = _ones(), _ones()  # FusedAdam's and torch's fused Adam's
    opt, ref = FusedAdam(ours[:1], lr=0.1), torch.optim.Adam(theirs[:1], lr=0.1, fused=True)
    for o, params in ((opt, ours), (ref, theirs)):
        _steps(o, params[:1], 2)
        o.add_param_group({"params": params[1:], "lr": 0.05})
        _steps(o, params, 2)
        params[0].grad = None
        _steps(o, params[1:], 1)  # the first parameter has no gradient this step
        params[1].grad = None
        _steps(o, params[:1], 1)
    assert all(torch.equal(p, q) for p, q in zip(ours, theirs, strict=True))
    assert opt.state[ours[0]]["step"].item() == 5 and opt.state[ours[1]]["step"].item() == 3


@pytest.mark.parametrize("where", ["optimiser", "global"])
def test_step_hooks_run_once_a_step_on_either_road(where):
    torch.optim.Adam([torch.nn.Parameter(torch.ones(1))]).step()  # Adam.step is now wrapped for its hooks
    params = _ones()
    opt = FusedAdam(params, lr=0.1)
    calls = []
    register = {"optimiser": (opt.register_step_pre_hook, opt.register_step_post_hook),
                "global": (torch_optimizer.register_optimizer_step_pre_hook,
                           torch_optimizer.register_optimizer_step_post_hook)}[where]
    handles = [register[0](lambda *_: calls.append("pre")), register[1](lambda *_: calls.append("post"))]
    try:
        _steps(opt, params, 3)  # the first step is Adam's (no state yet), the next would be the direct road's
    finally:
        for handle in handles:
            handle.remove()
    assert calls == ["pre", "post"] * 3
    reference = _ones()
    _steps(torch.optim.Adam(reference, lr=0.1, fused=True), reference, 3)
    assert all(torch.equal(p, q) for p, q in zip(params, reference, strict=True))
    calls.clear()
    _steps(opt, params, 1)
    assert calls == []


def test_the_profiler_sees_each_step():
    params = _ones()
    opt = FusedAdam(params, lr=0.1)
    _steps(opt, params, 2)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        _steps(opt, params, 3)
    names = [event.name for event in prof.events()]
    assert names.count("Optimizer.step#FusedAdam.step") == 3
    assert opt.state[params[0]]["step"].item() == 5


def test_a_copied_optimiser_steps_its_own_copy_of_the_state():
    net = MLP(3, (4,), 2)
    opt = FusedAdam(net.parameters(), lr=0.1)
    _steps(opt, list(net.parameters()), 2)
    twin_net, twin = copy.deepcopy((net, opt))  # goes through __setstate__, like unpickling
    _steps(opt, list(net.parameters()), 2)
    _steps(twin, list(twin_net.parameters()), 2)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), twin_net.parameters(), strict=True))
    assert twin.state[next(twin_net.parameters())]["step"].item() == 4


@pytest.mark.parametrize("lr", [0.05, 1e-3])
def test_tensor_adam_is_bit_for_bit_torch_adam(lr):
    """The reference is torch's own Adam (its default, single-tensor path on the CPU) on the same tensors and
    gradients: a quadratic bowl and a sine, 120 steps, gradients that change sign and scale."""
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(5, 3, generator=gen), torch.randn(7, generator=gen) * 10]
    mine, theirs = [t.clone() for t in start], [t.clone().requires_grad_() for t in start]
    hand, reference = TensorAdam(mine, lr=lr), torch.optim.Adam(theirs, lr=lr)
    for _ in range(120):
        grads = [2 * mine[0] - 1, torch.cos(mine[1]) * 3]
        reference.zero_grad()
        for p, g in zip(theirs, [2 * theirs[0].detach() - 1, torch.cos(theirs[1].detach()) * 3], strict=True):
            p.grad = g
        reference.step()
        hand.step(grads)
        assert all(torch.equal(a, b.detach()) for a, b in zip(mine, theirs, strict=True))
    assert not torch.equal(mine[0], start[0])
