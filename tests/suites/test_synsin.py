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


def test_realestate_pairs_through_loader_and_generic_list(pairs, tmp_path):
    """Pairs read through the RealEstate10K loader and a generic pair list carry the generator's relative poses
    and intrinsics (the case itself runs in the SynSin-list test below)."""
    from suites.synsin.standard import load_pairs

    root = tmp_path / "data" / "realestate10k"
    _fake_realestate(pairs, root)
    got = load_pairs("realestate10k", root, root / "synsin_pairs.txt", 32)
    assert got["splits"] == pairs["splits"]
    np.testing.assert_allclose(got["R_rel"], pairs["R_rel"], atol=1e-5)
    np.testing.assert_allclose(got["T_rel"], pairs["T_rel"], atol=1e-4)
    np.testing.assert_allclose(got["focal"], pairs["focal"].expand(len(got["ids"]), 2), rtol=1e-5)
    (root / "synsin_pairs.txt").write_text("test seqb 1000\n")
    with pytest.raises(DataError, match="synsin_pairs.txt: line 1"):
        load_pairs("realestate10k", root, root / "synsin_pairs.txt", 32)


def _w2c_cv(R, T):
    """OpenCV world-to-camera (4, 4) of a PyTorch3D camera (X_cam = X_world @ R + T; x left, y up)."""
    flip = np.diag([-1.0, -1.0, 1.0])
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = flip @ R.double().numpy().T, flip @ T.double().numpy()
    return m


def _save(img, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((img.numpy() * 255).round().astype(np.uint8)).save(path)


def _synsin_realestate_list(pairs, root):
    """SynSin's realestate.txt (31 columns, intrinsics in pixels of 256x256) for the test pairs, frames under
    frames/test/<seq>/<timestamp>.png."""
    s = pairs["image_size"][0]
    k = torch.cat([pairs["focal"], pairs["principal_point"]]).numpy() / s * 256
    lines = []
    for i in (j for j, sp in enumerate(pairs["splits"]) if sp == "test"):
        ts = (100 * i + 1, 100 * i + 2)
        for t, tag in zip(ts, ("src", "tgt"), strict=True):
            _save(pairs[f"{tag}_images"][i], root / "frames" / "test" / "seqb" / f"{t}.png")
        poses = [_w2c_cv(pairs[f"{tag}_R"][i], pairs[f"{tag}_T"][i])[:3].ravel() for tag in ("src", "tgt")]
        lines.append(" ".join(["seqb", str(ts[0]), str(ts[1])] + [f"{v:.9f}" for v in np.concatenate([k, *poses])]))
    (root / "realestate.txt").write_text("\n".join(lines) + "\n")


def test_synsin_realestate_list_gives_its_pairs_and_the_case_runs(pairs, tmp_path):
    """SynSin's own realestate.txt: the test pairs are its lines (ids = its output folders), with the generator's
    relative poses and intrinsics; the case trains on the generic list's train lines."""
    from suites.synsin.standard import load_case_pairs

    root = tmp_path / "data" / "realestate10k"
    _fake_realestate(pairs, root)
    _synsin_realestate_list(pairs, root)
    got = load_case_pairs("realestate10k", root, "", "", 32, 8, 0, lambda _m: None)
    test, tr = split(got, "test"), split(pairs, "test")
    assert test["ids"] == ["0000", "0001"] and len(split(got, "train")["ids"]) == len(split(pairs, "train")["ids"])
    np.testing.assert_allclose(test["R_rel"], tr["R_rel"], atol=1e-5)
    np.testing.assert_allclose(test["T_rel"], tr["T_rel"], atol=1e-4)
    np.testing.assert_allclose(test["focal"], pairs["focal"].expand(2, 2), rtol=1e-5)
    np.testing.assert_allclose(test["tgt_images"], tr["tgt_images"], atol=1 / 255)
    suite = Registry().get("synsin")
    case = suite.cases("standard", {**suite.tiny, "dataset": "realestate10k", "image_size": 32})[0]
    spec = {"suite": "synsin", "case": case.name, "params": case.params, "profile": "standard", "device": "cpu",
            "seed": 0, "backend": "torch", "artifact_root": str(tmp_path / "a"), "data_root": str(tmp_path / "data")}
    res = run_spec(spec)
    assert res.status == "ok", res.error
    m = {r.name: r for r in res.metrics}
    assert "psnr_reproject" not in m and m["psnr"].item_ids == ["0000", "0001"]
    direct = ev.score(tr["src_images"], tr["tgt_images"], None, ev.Weights(), tr["ids"])["psnr"]
    assert m["psnr_copy"].value == pytest.approx(direct.value, abs=0.05)
    text = (root / "realestate.txt").read_text().splitlines()
    (root / "realestate.txt").write_text(text[0] + "\n" + text[1].rsplit(" ", 1)[0] + "\n")
    with pytest.raises(DataError, match="realestate.txt: line 2 has 30 columns; expected SynSin's"):
        load_case_pairs("realestate10k", root, "", "", 32, 8, 0)
    (root / "realestate.txt").write_text(text[0].replace("seqb", "gone") + "\n")
    with pytest.raises(DataError, match=r"frames/test/gone/\d+.png: image of the SynSin pair list is missing"):
        load_case_pairs("realestate10k", root, "", "", 32, 8, 0)


def test_synsin_kitti_list_direction_is_the_later_frame_ahead(tmp_path):
    """kitti.txt's RT with +z translation (its sign for a later target frame) puts the target camera ahead of
    the source: a point 1 unit ahead of the source is 1 - 0.02 ahead of the target; K is SynSin's 718.9 px at
    256 px, scaled."""
    from suites.synsin.lists import Columns, kitti_test_pairs

    for name in ("00_000001", "00_000002"):
        _save(torch.full((20, 20, 3), 0.5), tmp_path / "images" / f"{name}.png")
    RT = np.eye(4)
    RT[2, 3] = 0.02
    (tmp_path / "kitti.txt").write_text("00_000002 00_000001 " + " ".join(map(str, RT.ravel())) + "\n")
    cols = Columns()
    kitti_test_pairs(tmp_path, tmp_path / "kitti.txt", 64, cols)
    got = cols.stack(64)
    point = torch.tensor([0.1, -0.2, 1.0]) @ got["R_rel"][0] + got["T_rel"][0]  # PyTorch3D: +z is forward
    assert point.tolist() == pytest.approx([0.1, -0.2, 0.98], abs=1e-6)
    assert got["focal"][0].tolist() == pytest.approx([718.9 / 4] * 2) and got["principal_point"][0].tolist() == [32, 32]
    assert got["ids"] == ["0"] and got["scenes"] == ["00"] and got["src_images"].shape == (1, 64, 64, 3)
    RT[3, 0] = 1.0
    (tmp_path / "kitti.txt").write_text("00_000002 00_000001 " + " ".join(map(str, RT.ravel())) + "\n")
    with pytest.raises(DataError, match="kitti.txt: line 1: RT is not a rigid 4x4 transform"):
        kitti_test_pairs(tmp_path, tmp_path / "kitti.txt", 64, Columns())


def _synsin_kitti(pairs, root):
    """continuous_view_synthesis' dataset_kitti from the generated pairs: each pair is a sequence with frames
    000000 (source) and 000001 (target); poses.txt (Euler xyz + centre), id_train.txt (train targets) and
    SynSin's kitti.txt (test pairs: target, source, RT with translation / 50)."""
    from scipy.spatial.transform import Rotation

    poses, train, test = [], [], []
    for i, sp in enumerate(pairs["splits"]):
        c2w = {tag: np.linalg.inv(_w2c_cv(pairs[f"{tag}_R"][i], pairs[f"{tag}_T"][i])) for tag in ("src", "tgt")}
        ids = {"src": f"{i:02d}_000000", "tgt": f"{i:02d}_000001"}
        for tag in ("src", "tgt"):
            _save(pairs[f"{tag}_images"][i], root / "images" / f"{ids[tag]}.png")
            eul = Rotation.from_matrix(c2w[tag][:3, :3]).as_euler("xyz")
            poses.append(" ".join([ids[tag], *(f"{v:.12g}" for v in (*eul, *c2w[tag][:3, 3]))]))
        if sp == "train":
            train.append(ids["tgt"])
        else:
            RT = np.linalg.inv(c2w["src"]) @ c2w["tgt"]
            RT[:3, 3] /= 50
            test.append(" ".join([ids["tgt"], ids["src"], *(f"{v:.12g}" for v in RT.ravel())]))
    (root / "poses.txt").write_text("\n".join(poses) + "\n")
    (root / "id_train.txt").write_text("\n".join(train) + "\n")
    (root / "kitti.txt").write_text("\n".join(test) + "\n")


def test_synsin_kitti_layout_train_sampler_test_list_and_case(pairs, tmp_path):
    """SynSin's KITTI: the training sampler over id_train.txt + poses.txt and the kitti.txt test pairs carry the
    generator's relative poses (translation in SynSin's unit, / 50); the case runs on that layout."""
    from suites.synsin.standard import load_case_pairs

    root = tmp_path / "data" / "kitti-synsin"
    _synsin_kitti(pairs, root)
    assert registry.get("kitti-synsin").check(root).ok
    got = load_case_pairs("kitti", root, "", "", 32, 8, 0, lambda _m: None)
    assert got["splits"] == pairs["splits"]  # one train pair per id (the only neighbour with a pose), then the list
    np.testing.assert_allclose(got["R_rel"], pairs["R_rel"], atol=1e-5)
    np.testing.assert_allclose(got["T_rel"] * 50, pairs["T_rel"], atol=1e-4)
    assert split(got, "test")["ids"] == ["0", "1"] and split(got, "train")["ids"][0] == "00_000000->00_000001"
    suite = Registry().get("synsin")
    case = suite.cases("standard", {**suite.tiny, "dataset": "kitti", "image_size": 32})[0]
    spec = {"suite": "synsin", "case": case.name, "params": case.params, "profile": "standard", "device": "cpu",
            "seed": 0, "backend": "torch", "artifact_root": str(tmp_path / "a"), "data_root": str(tmp_path / "data")}
    res = run_spec(spec)
    assert res.status == "ok", res.error
    m = {r.name: r for r in res.metrics}
    tr = split(pairs, "test")
    direct = ev.score(tr["src_images"], tr["tgt_images"], None, ev.Weights(), tr["ids"])["psnr"]
    assert m["psnr_copy"].value == pytest.approx(direct.value, abs=0.05) and m["psnr"].item_ids == ["0", "1"]
    (root / "id_train.txt").write_text("00_000001\n99_000001\n")
    with pytest.raises(DataError, match="poses.txt: training id '99_000001' of id_train.txt has no pose"):
        load_case_pairs("kitti", root, "", "", 32, 8, 0)


def test_byo_take_every_other_keeps_the_best_of_each_two():
    """SynSin's --take_every_other: max PSNR / SSIM and min PercSim of folders (0, 1), (2, 3); odd counts refused."""
    from bench.metrics import psnr, ssim

    g = torch.Generator().manual_seed(1)
    tgt = torch.rand(4, 16, 16, 3, generator=g)
    pred = (tgt + torch.tensor([0.2, 0.05, 0.01, 0.3]).view(4, 1, 1, 1) * torch.randn(4, 16, 16, 3, generator=g))
    pred = pred.clamp(0, 1)
    res = {"psnr": psnr(pred, tgt, data_range=1.0, layout="NHWC"), "ssim": ssim(pred, tgt, data_range=1.0,
                                                                               layout="NHWC")}
    got, ids = ev.best_of_two(res, ["a", "b", "c", "d"])
    assert ids == ["a+b", "c+d"]
    p = res["psnr"].items
    assert got["psnr"].items == [max(p[0], p[1]), max(p[2], p[3])] == [p[1], p[2]]
    assert got["psnr"].value == pytest.approx((p[1] + p[2]) / 2)
    assert got["ssim"].items == [max(res["ssim"].items[0:2]), max(res["ssim"].items[2:4])]
    assert got["psnr"].fingerprint != res["psnr"].fingerprint
    with pytest.raises(DataError, match="take_every_other: 3 prediction folders"):
        ev.best_of_two(res, ["a", "b", "c"])
