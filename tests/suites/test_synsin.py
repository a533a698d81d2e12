"""SynSin suite: the point-splat geometry against the true reprojection, the depth range, gradients, the
bring-your-own folder against direct scoring, and bad input named clearly."""

import numpy as np
import pytest
import torch
from PIL import Image

from bench.backends import load
from bench.data import registry
from bench.errors import DataError, NotAvailable
from bench.suite import Registry
from bench.worker import run_spec
from suites.synsin import evaluate as ev
from suites.synsin import split
from suites.synsin.model import DepthNet, ModelConfig, SynSin, lift, reproject, splat


@pytest.fixture(scope="module")
def t3d():
    return load("torch")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    folder = registry.generate("view-pairs", tmp_path_factory.mktemp("vp") / "d", seed=3, count=2, image_size=32,
                               scenes=3, test_scenes=1)
    return registry.get("view-pairs").load(folder)


def test_reproject_identity_pose_returns_source(t3d, pairs):
    src = pairs["src_images"][:2].permute(0, 3, 1, 2)
    eye, zero = torch.eye(3).expand(2, 3, 3), torch.zeros(2, 3)
    out, hit = reproject(t3d, src, pairs["src_depth"][:2], eye, zero, pairs["focal"], pairs["principal_point"],
                         ModelConfig(radius_px=1.0, points_per_pixel=4))
    assert hit.all()
    assert (out - src).abs().max() < 0.02  # each pixel's own point is nearest; neighbours only graze it


def test_reproject_true_depth_matches_target_where_visible(t3d, pairs):
    """Splatting with the true depth and pose reproduces the target on pixels the source sees, far better than
    copying the source (the dataset's poses, depths and the renderer's camera agree)."""
    src = pairs["src_images"].permute(0, 3, 1, 2)
    out, _ = reproject(t3d, src, pairs["src_depth"], pairs["R_rel"], pairs["T_rel"], pairs["focal"],
                       pairs["principal_point"], ModelConfig(radius_px=1.0, points_per_pixel=4))
    tgt = pairs["tgt_images"].permute(0, 3, 1, 2)
    vis = ~pairs["disoccluded"]
    err = (out - tgt).square().mean(1)[vis].mean()
    copy = (src - tgt).square().mean(1)[vis].mean()
    assert err < 0.2 * copy


def test_depth_net_range_and_gradients_reach_depth(t3d):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16)
    for inverse in (True, False):
        cfg = ModelConfig(min_z=1.0, max_z=10.0, inverse_depth=inverse)
        with torch.no_grad():
            net = DepthNet(cfg)
            net.dec1[-1].bias.fill_(8.0)  # saturate the sigmoid: depth at the near end
            assert net(x).min() >= 1.0 - 1e-4 and net(x).max() == pytest.approx(1.0 if inverse else 10.0, rel=1e-2)
    R = torch.tensor([[0.98, 0.0, -0.2], [0.0, 1.0, 0.0], [0.2, 0.0, 0.98]]).expand(2, 3, 3)
    T = torch.tensor([0.2, 0.0, 0.1]).expand(2, 3)
    # SynSin's decoder: gradients reach both nets; the residual decoder starts at zero, so only depth (through
    # the splat's point positions) gets a gradient at initialisation
    for residual, parts in ((False, ("depth", "features")), (True, ("depth",))):
        cfg = ModelConfig(channels=4, blocks=1, radius_px=1.5, points_per_pixel=4, rgb_skip=True, residual=residual)
        model = SynSin(t3d, cfg)
        pred, depth = model(x, R, T, torch.tensor([14.0, 14.0]), torch.tensor([8.0, 8.0]))
        assert pred.shape == (2, 3, 16, 16) and 0 <= pred.min() and pred.max() <= 1
        pred.mean().backward()
        for part in parts:
            g = torch.cat([p.grad.flatten() for p in getattr(model, part).parameters() if p.grad is not None])
            assert torch.isfinite(g).all() and g.abs().sum() > 0, (residual, part)


def test_lift_projects_back_through_splat_camera(t3d):
    """A point lifted from pixel (u, v) lands on that pixel in the splat camera, off-centre principal point and
    unequal focal lengths included (the non-square real datasets' case)."""
    h, w = 9, 12
    focal, pp = torch.tensor([10.0, 13.0]), torch.tensor([4.0, 5.5])
    depth = torch.full((1, 1, h, w), 1e3)
    depth[0, 0, 2, 9] = 2.0
    pts = lift(depth, focal, pp)
    feats = torch.zeros(1, h * w, 1)
    feats[0, 2 * w + 9] = 1.0
    img = splat(t3d, pts, feats, focal, pp, (h, w), ModelConfig(radius_px=0.5, points_per_pixel=1))
    assert img[0, 0].argmax().item() == 2 * w + 9


def test_split_is_by_scene(pairs):
    train, test = split(pairs, "train"), split(pairs, "test")
    assert set(train["scenes"]).isdisjoint(test["scenes"]) and len(set(train["scenes"])) == 2
    assert len(test["ids"]) == 2 and test["src_images"].shape[0] == 2 and test["disoccluded"].shape[0] == 2


def test_byo_folder_reproduces_direct_metrics(pairs, tmp_path):
    """Predictions written in SynSin's layout and scored through the suite give the directly computed metrics."""
    g = torch.Generator().manual_seed(0)
    tgt = pairs["tgt_images"]
    pred = ((tgt + 0.1 * torch.randn(tgt.shape, generator=g)).clamp(0, 1) * 255).round() / 255
    ids = [f"{i:04d}" for i in range(len(tgt))]
    ev.write_prediction_folder(tmp_path / "preds", pred, tgt, pairs["src_images"], ids)
    from bench.metrics.percsim import VGGFeatures

    torch.save(VGGFeatures("vgg16", (30,)).state_dict(), tmp_path / "vgg16.pth")  # random: tests the path only
    weights = ev.Weights(vgg16=str(tmp_path / "vgg16.pth"))
    direct = ev.score(pred, tgt, None, weights, ids)
    suite = Registry().get("synsin")
    case = suite.cases("smoke", {"dataset": "predictions", "predictions": str(tmp_path / "preds"),
                                 "vgg16_weights": weights.vgg16})[0]
    spec = {"suite": "synsin", "case": case.name, "params": case.params, "profile": "smoke", "device": "cpu",
            "seed": 0, "backend": "torch", "artifact_root": str(tmp_path / "a"), "data_root": str(tmp_path / "d")}
    res = run_spec(spec)
    assert res.status == "ok", res.error
    got = {m.name: m for m in res.metrics}
    for name in ("psnr", "ssim", "perc_sim"):
        assert got[name].items == pytest.approx(direct[name].items, abs=1e-9)
        assert got[name].fingerprint == direct[name].fingerprint
    copy = ev.score(pairs["src_images"], tgt, None, ev.Weights(), ids)["psnr"]
    assert got["psnr_copy"].value == pytest.approx(copy.value, abs=1e-6)


def test_byo_bad_input_named(tmp_path):
    img = np.zeros((16, 16, 3), np.uint8)
    for i in ("a", "b", "c", "d"):
        (tmp_path / i).mkdir()
        Image.fromarray(img).save(tmp_path / i / ev.TARGET_NAME)
    Image.fromarray(img[:12]).save(tmp_path / "a" / ev.PRED_NAME)
    with pytest.raises(DataError, match=r"a/output_image_.png: size 16x12 differs from .*tgt_image_.png 16x16"):
        ev.read_prediction_folder(tmp_path)
    Image.fromarray(img).save(tmp_path / "a" / ev.PRED_NAME)
    with pytest.raises(DataError, match=r"b/output_image_.png: image is missing"):
        ev.read_prediction_folder(tmp_path)
    Image.fromarray(np.zeros((16, 16), np.uint16)).save(tmp_path / "b" / ev.PRED_NAME)
    with pytest.raises(DataError, match=r"b/output_image_.png: 16-bit image"):
        ev.read_prediction_folder(tmp_path)
    Image.fromarray(img).save(tmp_path / "b" / ev.PRED_NAME)
    Image.fromarray(img[..., 0]).save(tmp_path / "c" / ev.PRED_NAME)
    with pytest.raises(DataError, match=r"c/output_image_.png: grey image"):
        ev.read_prediction_folder(tmp_path)
    with pytest.raises(DataError, match="predictions folder is missing"):
        ev.read_prediction_folder(tmp_path / "none")


def test_content_loss_needs_weights(tmp_path, monkeypatch):
    from suites.synsin.content import VGGContentLoss

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(NotAvailable, match="vgg19-dcbb9e9d.pth"):
        VGGContentLoss()
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "small.pth")
    with pytest.raises(ValueError, match="small.pth is not a torchvision vgg19 checkpoint"):
        VGGContentLoss(tmp_path / "small.pth")


@pytest.mark.slow
def test_smoke_model_between_copy_and_true_depth_reprojection(tmp_path):
    """Acceptance: on held-out pairs of unseen scenes, copy source < SynSin (L1, smoke) < reproject with true depth."""
    suite = Registry().get("synsin")
    case = {c.name: c for c in suite.cases("smoke")}["dataset=builtin,loss=l1"]
    spec = {"suite": "synsin", "case": case.name, "params": case.params, "profile": "smoke", "device": "cpu",
            "seed": 0, "backend": "torch", "artifact_root": str(tmp_path / "a"), "data_root": str(tmp_path / "d"),
            "threads": 1}
    res = run_spec(spec)
    assert res.status == "ok", res.error
    got = {m.name: m.value for m in res.metrics}
    assert got["psnr_copy"] + 1.0 < got["psnr"] < got["psnr_reproject"], got


def _fake_realestate(pairs, root):
    """A RealEstate10K folder (OpenCV world-to-camera poses, normalised intrinsics) holding the generated pairs:
    train pairs in cameras/train/seqa.txt, test pairs in cameras/test/seqb.txt; and its pair list."""
    flip = np.diag([-1.0, -1.0, 1.0])
    s = pairs["image_size"][0]
    f, c = (pairs["focal"] / s).tolist(), (pairs["principal_point"] / s).tolist()
    lines, files = [], {}
    for i, split_name in enumerate(pairs["splits"]):
        seq = "seqa" if split_name == "train" else "seqb"
        rows = files.setdefault((split_name, seq), [])
        for tag in ("src", "tgt"):
            R, T = pairs[f"{tag}_R"][i].double().numpy(), pairs[f"{tag}_T"][i].double().numpy()
            w2c = np.concatenate([flip @ R.T, (flip @ T)[:, None]], 1)
            ts = 1000 * (len(rows) + 1)
            rows.append(f"{ts} {f[0]} {f[1]} {c[0]} {c[1]} 0 0 " + " ".join(f"{v:.9f}" for v in w2c.ravel()))
            folder = root / "frames" / split_name / seq
            folder.mkdir(parents=True, exist_ok=True)
            img = (pairs[f"{tag}_images"][i].numpy() * 255).round().astype(np.uint8)
            Image.fromarray(img).save(folder / f"{ts}.png")
        lines.append(f"{split_name} {seq} {ts - 1000} {ts}")
    for (split_name, seq), rows in files.items():
        (root / "cameras" / split_name).mkdir(parents=True, exist_ok=True)
        text = "https://example.invalid/v\n" + "\n".join(rows) + "\n"
        (root / "cameras" / split_name / f"{seq}.txt").write_text(text)
    (root / "synsin_pairs.txt").write_text("# split sequence source target\n" + "\n".join(lines) + "\n")


def test_realestate_pairs_through_loader_and_case(pairs, tmp_path):
    """Pairs read through the RealEstate10K loader and a pair list carry the generator's relative poses and
    intrinsics; the case trains on the list's train pairs and scores its test pairs (no depth: no reprojection)."""
    from suites.synsin.standard import load_pairs

    root = tmp_path / "data" / "realestate10k"
    _fake_realestate(pairs, root)
    got = load_pairs("realestate10k", root, root / "synsin_pairs.txt", 32)
    assert got["splits"] == pairs["splits"]
    np.testing.assert_allclose(got["R_rel"], pairs["R_rel"], atol=1e-5)
    np.testing.assert_allclose(got["T_rel"], pairs["T_rel"], atol=1e-4)
    np.testing.assert_allclose(got["focal"], pairs["focal"].expand(len(got["ids"]), 2), rtol=1e-5)
    suite = Registry().get("synsin")
    case = suite.cases("standard", {**suite.tiny, "dataset": "realestate10k", "image_size": 32})[0]
    spec = {"suite": "synsin", "case": case.name, "params": case.params, "profile": "standard", "device": "cpu",
            "seed": 0, "backend": "torch", "artifact_root": str(tmp_path / "a"), "data_root": str(tmp_path / "data")}
    res = run_spec(spec)
    assert res.status == "ok", res.error
    m = {r.name: r for r in res.metrics}
    assert "psnr" in m and "psnr_reproject" not in m
    test = split(pairs, "test")
    direct = ev.score(test["src_images"], test["tgt_images"], None, ev.Weights(), test["ids"])["psnr"]
    assert m["psnr_copy"].value == pytest.approx(direct.value, abs=0.05)
    (root / "synsin_pairs.txt").write_text("test seqb 1000\n")
    with pytest.raises(DataError, match="synsin_pairs.txt: line 1"):
        load_pairs("realestate10k", root, root / "synsin_pairs.txt", 32)
