"""Building blocks: MLPs, small conv encoders / decoders, masked convolutions, and the optimiser.

Networks are plain ``nn.Module``s injected into models; nothing here knows about a loss.
"""

from __future__ import annotations

import math

import torch
import torch.optim.optimizer as torch_optimizer
from torch import nn


def adam(params, lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel where this torch supports it for the parameters' device (``FusedAdam``),
    else torch's default Adam."""
    params = list(params)
    try:
        return FusedAdam(params, lr=lr)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


_ONE = torch.tensor(1.0)  # what each step counter (a CPU tensor) is advanced by


class FusedAdam(torch.optim.Adam):
    """``torch.optim.Adam(fused=True)`` with a shorter road to the fused kernel.

    On a small CPU model the kernel itself takes about 0.1 ms, but ``Adam.step`` spends as much again
    in Python before reaching it (the wrapper that runs step hooks and labels the step for the
    profiler, grouping tensors by device and dtype, options it does not use). Once every parameter has
    its state, ``step`` calls the same kernel with the same arguments directly, from tensor lists kept
    per parameter group, so the weights are bit-for-bit those of ``Adam(fused=True)``. Anything outside
    that plain case (first step, amsgrad, maximize, weight decay, a closure, mixed devices, a step hook,
    a running profiler) goes through ``Adam.step``, hooks and all. State dicts are Adam's own.
    """

    def __init__(self, params, lr: float = 1e-3, **kwargs):
        super().__init__(params, lr=lr, fused=True, **kwargs)
        self._lists: dict[int, tuple] = {}  # id(param group) -> (the group, the kernel's tensor lists)

    def __setstate__(self, state: dict) -> None:  # load_state_dict and unpickling replace groups and state
        super().__setstate__(state)
        self._lists = {}

    def step(self, closure=None):
        if closure is None and not self._watched():
            with torch.no_grad():
                plans = [self._plan(group) for group in self.param_groups]
                if all(plan is not None for plan in plans):
                    for group, plan in zip(self.param_groups, plans, strict=True):
                        _kernel(group, *plan)
                    return None
        return self._adam_step(closure)

    step.hooked = True  # Optimizer wraps an unmarked step in its hooks; here only _adam_step needs them

    @torch_optimizer.Optimizer.profile_hook_step
    def _adam_step(self, closure=None):
        """Adam's own step, inside Optimizer's wrapper (step hooks, the profiler's label)."""
        adam_step = torch.optim.Adam.step  # unwrapped: the hooks must not run twice
        return (adam_step.__wrapped__ if getattr(adam_step, "hooked", False) else adam_step)(self, closure)

    def _watched(self) -> bool:
        """Whether something listens to this step: step hooks (this optimiser's or global) or the profiler."""
        return bool(self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                    or torch_optimizer._global_optimizer_pre_hooks
                    or torch_optimizer._global_optimizer_post_hooks
                    or torch._C._autograd._profiler_enabled())

    def _plan(self, group: dict):
        """The kernel's tensor lists for the group's parameters with a gradient (params, grads, exp_avgs,
        exp_avg_sqs, steps), or None where Adam.step must go.

        The lists are kept from one step to the next while every parameter of the group has a gradient,
        until the group or the state is replaced (``load_state_dict``).
        """
        if group["amsgrad"] or group["maximize"] or group["weight_decay"] or group["decoupled_weight_decay"] \
                or group["differentiable"] or isinstance(group["lr"], torch.Tensor):
            return None
        params = group["params"]
        grads = [p.grad for p in params]
        kept = self._lists.get(id(group))
        if kept is not None and len(kept[1]) == len(params) and all(g is not None for g in grads):
            return kept[1], grads, *kept[2:]
        with_grad = [p for p in params if p.grad is not None]
        states = [self.state.get(p) for p in with_grad]
        if any(not s for s in states) or len({(p.device, p.dtype) for p in with_grad}) > 1 \
                or any(p.grad.is_sparse or p.is_complex() for p in with_grad):
            return None
        lists = ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [s["step"] for s in states])
        if len(with_grad) == len(params):
            self._lists[id(group)] = (group, with_grad, *lists)  # the group, held here, keeps its id
        return with_grad, [p.grad for p in with_grad], *lists


def _kernel(group: dict, params, grads, exp_avgs, exp_avg_sqs, steps) -> None:
    """One fused Adam update of ``params`` in place, as ``Adam(fused=True).step`` makes it."""
    if not params:  # no gradient in this group this step
        return
    if steps[0].is_cpu:  # a Python 1 is wrapped into a tensor once per step counter: 20 us, this 6 us
        torch._foreach_add_(steps, _ONE, alpha=1.0)
    else:
        torch._foreach_add_(steps, 1)
    beta1, beta2 = group["betas"]
    torch._fused_adam_(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=group["lr"],
                       beta1=beta1, beta2=beta2, weight_decay=0.0, eps=group["eps"], maximize=False,
                       grad_scale=None, found_inf=None)


class TensorAdam:
    """``torch.optim.Adam``'s update with its defaults (betas 0.9 / 0.999, eps 1e-8, no weight decay), element
    for element as its single-tensor CPU path computes it, for a few tensors optimised by hand (the inference
    lab's q*). It does not use ``torch.optim``: an optimiser's first constructor imports torch._dynamo (1.4-1.5 s
    on 2 cores), which a page that only analyses a drawing would otherwise wait for on its first visit."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.steps = 0

    @torch.no_grad()
    def step(self, grads) -> None:
        """One Adam step of every parameter with its gradient in ``grads`` (in the parameters' order)."""
        self.steps += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1 ** self.steps)
        bias_correction2_sqrt = (1 - beta2 ** self.steps) ** 0.5
        for p, g, m, v in zip(self.params, grads, self.exp_avg, self.exp_avg_sq, strict=True):
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            p.addcdiv_(m, (v.sqrt() / bias_correction2_sqrt).add_(self.eps), value=-step_size)


class MLP(nn.Sequential):
    """in_features -> hidden[0] -> ... -> hidden[-1] -> out_features, ReLU between layers.

    The ReLUs work in place: a linear layer's backward does not need its output, so nothing is lost,
    and a step allocates less.
    """

    def __init__(self, in_features: int, hidden: tuple[int, ...], out_features: int):
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        layers.append(nn.Linear(width, out_features))
        super().__init__(*layers)


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, out_features): stride-2 4x4 convolutions with ``channels`` widths, then a linear map."""

    def __init__(self, data_shape: tuple[int, int, int], channels: tuple[int, ...], out_features: int):
        super().__init__()
        c, h, w = data_shape
        check_conv_shape(data_shape, len(channels))
        layers: list[nn.Module] = []
        for width in channels:
            layers += [nn.Conv2d(c, width, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
            c, h, w = width, h // 2, w // 2
        self.convs = nn.Sequential(*layers)
        self.head = nn.Linear(c * h * w, out_features)

    def forward(self, x):
        return self.head(self.convs(x).flatten(1))


class ConvDecoder(nn.Module):
    """(B, in_features) -> (B, out_channels, H, W): a linear map, then stride-2 transposed convolutions."""

    def __init__(self, in_features: int, channels: tuple[int, ...], data_shape: tuple[int, int, int],
                 out_channels: int):
        super().__init__()
        _, h, w = data_shape
        check_conv_shape(data_shape, len(channels))
        widths = tuple(reversed(channels))
        self.start = (widths[0], h >> len(widths), w >> len(widths))
        self.head = nn.Linear(in_features, math.prod(self.start))
        layers: list[nn.Module] = [nn.ReLU(inplace=True)]
        for i, width in enumerate(widths):
            out = widths[i + 1] if i + 1 < len(widths) else out_channels
            layers.append(nn.ConvTranspose2d(width, out, 4, stride=2, padding=1))
            if i + 1 < len(widths):
                layers.append(nn.ReLU(inplace=True))
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z):
        return self.deconvs(self.head(z).view(-1, *self.start))


def check_conv_shape(data_shape: tuple[int, ...], depth: int) -> None:
    if len(data_shape) != 3:
        raise ValueError(f"a conv network needs image data (C, H, W), got shape {data_shape}")
    _, h, w = data_shape
    if h % (2**depth) or w % (2**depth):
        raise ValueError(f"{depth} stride-2 layers need H and W divisible by {2**depth}; the data is {h}x{w}. "
                         f"Use fewer conv widths in 'hidden'.")


# ------------------------------------------------------------------------------------ masked convolution

MASK_TYPES = ("A", "B")
STACKS = ("full", "vertical", "horizontal")


def causal_mask(kernel_size: int, mask_type: str, in_channels: int = 1, out_channels: int = 1,
                groups: int = 1, stack: str = "full") -> torch.Tensor:
    """The PixelCNN mask: (out_channels, in_channels, k, k), 1 where a weight may be non-zero.

    ``stack="full"`` is the mask of van den Oord et al. 2016a, "Pixel Recurrent Neural Networks", Sec. 3.4
    (Fig. 2 right): rows above the centre and pixels left of the centre on its row are visible. At the
    centre pixel, with ``groups`` colour channel groups (R, G, B...), an output channel of group g sees
    input groups strictly before g for mask "A" and up to and including g for mask "B". With one group,
    mask A hides the centre and mask B shows it. Channel groups are contiguous blocks:
    channel i of n is in group i // (n / groups).

    The gated PixelCNN (van den Oord et al. 2016b, "Conditional Image Generation with PixelCNN Decoders",
    Sec. 2.2, Fig. 1) splits the full mask into two stacks, which removes the blind spot:

    - ``"vertical"``: whole rows, full width. Mask "A" shows the rows strictly above the centre (the
      first layer, on the image); mask "B" adds the centre row, whose vertical features themselves only
      depend on rows above. No channel rule: the vertical stack never carries the current row.
    - ``"horizontal"``: the centre row only: pixels left of the centre, and the centre by the channel
      rule above (A: strictly earlier groups, B: up to and including its own group).
    """
    if mask_type not in MASK_TYPES:
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    if stack not in STACKS:
        raise ValueError(f"stack must be one of {STACKS}, got {stack!r}")
    if int(kernel_size) != kernel_size or kernel_size % 2 == 0 or kernel_size < 1:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
    if groups < 1 or in_channels % groups or out_channels % groups:
        raise ValueError(f"in ({in_channels}) and out ({out_channels}) channels must divide into {groups} groups")
    # made on the CPU, then put on the default device: on the meta device (checkpoint checks build models there)
    # // and < run Python decompositions that import torch._dynamo, 1.5 s on a page's first visit
    return _causal_mask(kernel_size, mask_type, in_channels, out_channels, groups, stack).to(torch.get_default_device())


def _causal_mask(k: int, mask_type: str, in_channels: int, out_channels: int, groups: int, stack: str):
    c = k // 2
    mask = torch.zeros(out_channels, in_channels, k, k, device="cpu")
    if stack == "vertical":
        mask[:, :, : c + (mask_type == "B"), :] = 1  # rows above (B: and the centre row)
        return mask
    if stack == "full":
        mask[:, :, :c, :] = 1  # rows above
    mask[:, :, c, :c] = 1  # left of the centre
    group_in = torch.arange(in_channels, device="cpu") // (in_channels // groups)  # (in,) group of each input channel
    group_out = torch.arange(out_channels, device="cpu") // (out_channels // groups)  # (out,)
    if mask_type == "A":
        allowed = group_in[None, :] < group_out[:, None]
    else:
        allowed = group_in[None, :] <= group_out[:, None]
    mask[:, :, c, c] = allowed.float()  # (out, in) the channel rule at the centre
    return mask


class MaskedConv2d(nn.Conv2d):
    """A same-padded convolution whose kernel is multiplied by a causal mask of type "A" or "B"
    (see ``causal_mask``; ``groups`` are colour channel groups, not grouped convolution)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, mask_type: str = "B", *, groups: int = 1,
                 stack: str = "full", bias: bool = True):
        mask = causal_mask(kernel_size, mask_type, in_ch, out_ch, groups, stack)  # validates first
        super().__init__(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=bias)
        self.mask_type, self.stack, self.colour_groups = mask_type, stack, groups
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        return self._conv_forward(x, self.weight * self.mask, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mask_type={self.mask_type}, stack={self.stack}, groups={self.colour_groups}"


def gate(h: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """The gated activation tanh(a) * sigmoid(b) (van den Oord et al. 2016b, Eq. 2): (B, 2n, H, W) -> (B, n, H, W).

    Each colour group's block of 2n / groups channels is split in two halves (a, b), so an output
    channel keeps its group and the channel rule of the masks survives the gate.
    """
    b, ch, height, width = h.shape
    a, g = h.view(b, groups, 2, ch // (2 * groups), height, width).unbind(2)  # (B, G, n/G, H, W) each
    return (torch.tanh(a) * torch.sigmoid(g)).reshape(b, ch // 2, height, width)
