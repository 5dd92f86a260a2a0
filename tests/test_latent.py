"""genlib.latent: slerp / lerp geometry, traversals, decoding, KL ordering and the 2-D manifold grid."""

import math

import pytest
import torch

from genlib import latent
from genlib.data import load_dataset
from genlib.distributions import gaussian_kl
from genlib.models import build


def test_slerp_starts_and_ends_at_its_endpoints():
    z0, z1 = torch.tensor([1.0, 2.0, -1.0]), torch.tensor([-0.5, 0.3, 2.0])
    for method in latent.INTERPOLATIONS:
        path = latent.interpolate(z0, z1, 7, method)
        assert path.shape == (7, 3)
        torch.testing.assert_close(path[0], z0)
        torch.testing.assert_close(path[-1], z1)


def test_slerp_keeps_the_norm_of_equal_norm_codes_and_lerp_cuts_inside():
    z0, z1 = torch.tensor([3.0, 0.0, 4.0]), torch.tensor([0.0, 5.0, 0.0])
    torch.testing.assert_close(latent.slerp(z0, z1, 11).norm(dim=1), torch.full((11,), 5.0))
    assert latent.lerp(z0, z1, 11).norm(dim=1)[5] < 5.0 - 1.0


def test_slerp_of_orthogonal_unit_vectors_follows_the_circle():
    u0, u1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    path = latent.slerp(u0, u1, 5)  # angles 0, 22.5, 45, 67.5, 90 degrees
    angles = torch.linspace(0, math.pi / 2, 5)
    torch.testing.assert_close(path, torch.stack([angles.cos(), angles.sin()], 1))


def test_slerp_of_parallel_or_zero_codes_falls_back_to_a_straight_line():
    z = torch.tensor([1.0, 1.0])
    torch.testing.assert_close(latent.slerp(z, 3 * z, 3), latent.lerp(z, 3 * z, 3))
    torch.testing.assert_close(latent.slerp(torch.zeros(2), z, 3), latent.lerp(torch.zeros(2), z, 3))


def test_path_settings_are_checked():
    with pytest.raises(ValueError, match="interpolation"):
        latent.interpolate(torch.zeros(2), torch.ones(2), 3, "cubic")
    with pytest.raises(ValueError, match="2 steps"):
        latent.lerp(torch.zeros(2), torch.ones(2), 1)


def test_traversal_codes_sweep_one_dimension_and_hold_the_rest():
    base = torch.tensor([0.5, -1.0, 2.0])
    values = torch.linspace(-2, 2, 5)
    codes = latent.traversal_codes(base, [2, 0], values)  # (2, 5, 3)
    assert codes.shape == (2, 5, 3)
    torch.testing.assert_close(codes[0, :, 2], values)
    torch.testing.assert_close(codes[0, :, :2], base[:2].expand(5, 2))
    torch.testing.assert_close(codes[1, :, 0], values)
    torch.testing.assert_close(codes[1, :, 1:], base[1:].expand(5, 2))
    with pytest.raises(ValueError, match="do not exist"):
        latent.traversal_codes(base, [3], values)


def test_encode_orders_dimensions_by_kl_and_decode_is_the_likelihood_mean(tiny_vae, digits_test):
    x = digits_test.x[:50]
    codes = latent.encode(tiny_vae, x)
    mu, logvar = tiny_vae.encode(tiny_vae.likelihood.prepare(x))
    torch.testing.assert_close(codes.mu, mu.detach())
    torch.testing.assert_close(codes.kl_per_dim, gaussian_kl(mu, logvar).mean(0).detach())
    kl = codes.kl_of(codes.dims_by_kl)
    assert sorted(codes.dims_by_kl) == [0, 1, 2, 3] and kl == sorted(kl, reverse=True)
    z = torch.randn(3, 2, 4)
    images = latent.decode(tiny_vae, z)
    assert images.shape == (3, 2, 1, 8, 8)
    torch.testing.assert_close(images[1, 0], tiny_vae.likelihood.mean(tiny_vae.decode(z[1, :1]))[0].detach())


def test_traverse_decodes_rows_of_images(tiny_vae):
    images = latent.traverse(tiny_vae, None, [1, 3], -2.0, 2.0, steps=6)
    assert images.shape == (2, 6, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    with pytest.raises(ValueError, match="low < high"):
        latent.traverse(tiny_vae, None, [0], 1.0, -1.0)


def test_the_manifold_grid_reads_like_a_plot():
    model = build("vae", (1, 8, 8), latent_dim=2, hidden=(16,))
    grid, values = latent.manifold_grid(model, n=4, span=2.0)
    assert grid.shape == (4, 4, 1, 8, 8)
    top_left = latent.decode(model, torch.tensor([[-2.0, 2.0]]))[0]  # smallest z1, largest z2
    torch.testing.assert_close(grid[0, 0], top_left)
    with pytest.raises(ValueError, match="2-D latent"):
        latent.manifold_grid(build("vae", (1, 8, 8), latent_dim=3, hidden=(16,)))


def test_interpolation_paths_give_images_and_norms(tiny_vae):
    paths = latent.interpolation_paths(tiny_vae, torch.ones(4), -torch.ones(4) + 0.1, steps=5)
    for images, norms in paths.values():
        assert images.shape == (5, 1, 8, 8) and norms.shape == (5,)


def test_a_hierarchical_vae_is_traversed_through_its_bottom_layer():
    model = build("hierarchical-vae", (1, 8, 8), **{"latent_dim": 4, "upper_dims": (2,), "hidden": (32,),
                                                    "ladder_hidden": 16})
    codes = latent.encode(model, torch.rand(6, 1, 8, 8))
    assert codes.mu.shape == (6, 6) and codes.decoded == 4 and sorted(codes.dims_by_kl) == [0, 1, 2, 3]
    assert latent.traverse(model, codes.code(0), codes.dims_by_kl, steps=3).shape == (4, 3, 1, 8, 8)


def test_which_models_and_data_the_explorer_takes(tiny_vae):
    assert latent.can_explore(tiny_vae) and latent.data_name(tiny_vae) == "digits"
    assert not latent.can_explore(build("vae", (2,), latent_dim=2, hidden=(8,), likelihood="gaussian"))
    assert not latent.can_explore(build("pixelcnn", (1, 8, 8)))
    sprites = load_dataset("sprites", "test")
    assert latent.colour_values(sprites, "rotation").max() == 7
    with pytest.raises(ValueError, match="no 'rotation'"):
        latent.colour_values(load_dataset("digits", "test"), "rotation")
