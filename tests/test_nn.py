"""genlib.nn.FusedAdam: the short road to torch's fused Adam kernel gives torch's own Adam updates."""

import pytest
import torch

from genlib.nn import MLP, FusedAdam, adam


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
