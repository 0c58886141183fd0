"""The procedural street-scene benchmark: determinism, pinned pixels, label space, domain
gap, perspective, prepared datasets."""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
from scipy import ndimage

from advent.config import ConfigError, from_dict
from advent.data import synthetic
from advent.data.labels import CITYSCAPES_CLASSES, IGNORE_INDEX
from advent.data.prepared import PreparedDataset, read_meta
from advent.data.synthetic import (
    BUILDING, CAR, PERSON, SKY, VEGETATION, domain_params, generate_layout,
    generate_sample, prepare_synthetic,
)
from advent.params import SyntheticConfig

H, W = 64, 128
N = 40  # samples per domain for the statistics below
REQUIRED = ("road", "sidewalk", "building", "pole", "traffic sign", "vegetation", "terrain",
            "sky", "person", "car")
EXTRA = ("wall", "fence", "traffic light", "rider", "bicycle")


def _samples(domain: str, gap: float = 1.0, n: int = N, seed: int = 7) -> list[tuple[np.ndarray, np.ndarray]]:
    return [generate_sample(seed, i, domain, H, W, gap) for i in range(n)]


@pytest.fixture(scope="module")
def source():
    return _samples("source")


@pytest.fixture(scope="module")
def target():
    return _samples("target")


def _class_means(samples) -> np.ndarray:
    """(19, 3) mean RGB per class over all samples (NaN where a class never occurs)."""
    sums = np.zeros((19, 3))
    counts = np.zeros(19)
    for img, lab in samples:
        for c in np.unique(lab):
            if c < 19:
                m = lab == c
                sums[c] += img[m].sum(0)
                counts[c] += m.sum()
    with np.errstate(invalid="ignore"):
        return sums / counts[:, None]


def _mean_colour_distance(a, b) -> float:
    ids = [CITYSCAPES_CLASSES.index(c) for c in REQUIRED]
    return float(np.linalg.norm(_class_means(a)[ids] - _class_means(b)[ids], axis=1).mean())


def _interior_high_freq(samples) -> float:
    """Mean |Laplacian| of the grey image over pixels whose 3x3 neighbourhood holds one
    class: texture and noise inside regions, not class edges."""
    vals = []
    for img, lab in samples:
        g = img.astype(np.float64).mean(2)
        lap = np.abs(4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:])
        same = ndimage.minimum_filter(lab, 3) == ndimage.maximum_filter(lab, 3)
        vals.append(lap[same[1:-1, 1:-1]])
    return float(np.concatenate(vals).mean())


def _class_fraction(samples, cls: int) -> float:
    return float(np.mean([(lab == cls).mean() for _, lab in samples]))


# -- determinism and shapes ----------------------------------------------------------------

@pytest.mark.parametrize("domain", ["source", "target"])
def test_pure_function_of_arguments(domain):
    img, lab = generate_sample(3, 11, domain, H, W)
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    assert lab.shape == (H, W) and lab.dtype == np.uint8
    # the same call after other calls (no hidden global state) gives identical arrays
    generate_sample(4, 0, domain, H, W)
    img2, lab2 = generate_sample(3, 11, domain, H, W)
    assert np.array_equal(img, img2) and np.array_equal(lab, lab2)
    for other in [(4, 11), (3, 12)]:  # another seed, another index
        img3, lab3 = generate_sample(*other, domain, H, W)
        assert not np.array_equal(lab, lab3) and not np.array_equal(img, img3)


def test_domains_are_different_streams():
    _, ls = generate_sample(3, 11, "source", H, W, gap=0.0)
    _, lt = generate_sample(3, 11, "target", H, W, gap=0.0)
    assert not np.array_equal(ls, lt)


def test_layout_matches_sample_and_source_ignores_gap():
    for domain in ("source", "target"):
        _, lab = generate_sample(5, 2, domain, H, W, gap=0.7)
        assert np.array_equal(generate_layout(5, 2, domain, H, W, gap=0.7).label, lab)
    a = generate_sample(5, 2, "source", H, W, gap=0.0)
    b = generate_sample(5, 2, "source", H, W, gap=1.0)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("size", [(37, 53), (120, 64), (8, 8)])
def test_any_size(size):
    for domain in ("source", "target"):
        img, lab = generate_sample(0, 1, domain, *size)
        assert img.shape == (*size, 3) and lab.shape == size


@pytest.mark.parametrize("gap", [0.0, 0.3, 2.0])
def test_gap_extremes_stay_valid(gap):
    for i in range(5):
        img, lab = generate_sample(2, i, "target", H, W, gap)
        assert img.shape == (H, W, 3) and set(np.unique(lab).tolist()) <= set(range(19)) | {IGNORE_INDEX}


def test_resolution_independent_geometry():
    """The same scene at two resolutions: the label maps agree once downsampled."""
    agree = []
    for i in range(6):
        _, small = generate_sample(1, i, "target", 48, 96)
        _, large = generate_sample(1, i, "target", 96, 192)
        agree.append((large[::2, ::2] == small).mean())
    assert np.mean(agree) > 0.85, agree


#: sha256 of (image, label) bytes of generate_sample(0, 5, domain, 32, 64, gap), computed
#: before the module became a package: prepared data (hence DVC hashes) depend on them.
PINNED = {
    ("source", 1.0): ("0eec9af8792156bfc242523c50cd4a39d5fbb80cf9436760fc4bb4e7e1625891",
                      "e4b88ec5338548f9230a61b6772daf1afe482ef30d604481d95d5f5db37ad474"),
    ("target", 1.0): ("1676339ca7fc05b3f09afef4044cb96a8e843be410805d7da98268531ca22e15",
                      "25b1696026ba6b468e0f0ccdbc20f5f17223a3f260c74b97ca3381a2db328c41"),
    ("target", 0.5): ("7ebbaa72225f1067a6b45693813c7c9e551bf5e9e83d3ed1b2af086ef1192fc4",
                      "5094318bbab7b55914f280f776168297f32364cd3bfe86df6041ba03752c3198"),
}


@pytest.mark.parametrize("domain, gap", sorted(PINNED))
def test_pixels_are_pinned(domain, gap):
    """A refactor must not move a pixel. If a change is meant to, bump GENERATOR_VERSION
    and update these hashes (a numpy/Pillow upgrade can also change them: the prepared
    data then change too, and DVC reruns everything after ``prepare``)."""
    img, lab = generate_sample(0, 5, domain, 32, 64, gap)
    got = (hashlib.sha256(img.tobytes()).hexdigest(), hashlib.sha256(lab.tobytes()).hexdigest())
    assert got == PINNED[domain, gap], f"generator version {synthetic.GENERATOR_VERSION}: pixels moved"


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="domain"):
        generate_sample(0, 0, "real", H, W)
    with pytest.raises(ValueError, match="gap"):
        generate_sample(0, 0, "target", H, W, gap=-0.1)
    with pytest.raises(ValueError, match="non-negative"):
        generate_sample(-1, 0, "target", H, W)


# -- label space -----------------------------------------------------------------------------

@pytest.mark.parametrize("domain", ["source", "target"])
def test_shared_label_space(domain, source, target):
    samples = source if domain == "source" else target
    seen = set()
    for _, lab in samples:
        seen |= set(np.unique(lab).tolist())
    assert seen <= set(range(19)) | {IGNORE_INDEX}
    names = {CITYSCAPES_CLASSES[c] for c in seen if c < 19}
    assert set(REQUIRED) <= names, set(REQUIRED) - names
    assert len(set(EXTRA) & names) >= 4, names
    assert {"bus", "truck"} & names or domain == "target"  # rare in the target by design


def test_ignore_only_for_the_target_ego_hood(source, target):
    assert not any((lab == IGNORE_INDEX).any() for _, lab in source)
    hoods = [lab for _, lab in target if (lab == IGNORE_INDEX).any()]
    assert hoods
    for lab in hoods:  # only at the bottom of the image
        rows = np.nonzero((lab == IGNORE_INDEX).any(1))[0]
        assert rows.min() > H * 0.7 and rows.max() == H - 1


# -- the domain gap --------------------------------------------------------------------------

def test_gap_zero_is_the_source_distribution():
    assert domain_params("target", 0.0) == domain_params("source")
    assert domain_params("target", 1.0) != domain_params("source")
    lay_half, style_half = domain_params("target", 0.5)
    lay_0, style_0 = domain_params("source")
    lay_1, style_1 = domain_params("target", 1.0)
    assert lay_half.person_rate == pytest.approx((lay_0.person_rate + lay_1.person_rate) / 2)
    assert style_half.noise == pytest.approx((style_0.noise + style_1.noise) / 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        style_1.noise = 0.0  # type: ignore[misc]


def test_appearance_differs_and_gap_scales_it(source, target):
    d1 = _mean_colour_distance(source, target)
    d0 = _mean_colour_distance(source, _samples("target", gap=0.0))
    dh = _mean_colour_distance(source, _samples("target", gap=0.5))
    assert d1 > 45, d1
    assert d0 < 15, d0
    assert d0 < dh < d1, (d0, dh, d1)


def test_target_has_texture_and_noise(source, target):
    hs, ht = _interior_high_freq(source), _interior_high_freq(target)
    assert ht > 3 * hs, (hs, ht)
    h0 = _interior_high_freq(_samples("target", gap=0.0))
    assert 0.5 * hs < h0 < 2 * hs, (hs, h0)


def test_layout_statistics_differ(source, target):
    hor = {d: np.mean([generate_layout(7, i, d, H, W).horizon / H for i in range(N)])
           for d in ("source", "target")}
    hor0 = np.mean([generate_layout(7, i, "target", H, W, gap=0.0).horizon / H for i in range(N)])
    assert hor["target"] - hor["source"] > 0.04, hor
    assert abs(hor0 - hor["source"]) < 0.03, (hor0, hor)
    # more vegetation and persons in the target, more buildings in the source
    assert _class_fraction(target, VEGETATION) > 1.3 * _class_fraction(source, VEGETATION)
    assert _class_fraction(source, BUILDING) > 1.3 * _class_fraction(target, BUILDING)
    assert _class_fraction(target, PERSON) > 1.5 * _class_fraction(source, PERSON)
    # but every major class keeps a sizeable share in both (the task stays learnable)
    for cls in (BUILDING, VEGETATION, SKY, CAR):
        assert min(_class_fraction(source, cls), _class_fraction(target, cls)) > 0.01, cls


# -- perspective -----------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [CAR, PERSON])
def test_apparent_size_grows_below_horizon(cls):
    """Connected blobs of a class: height grows with how far their foot is below the horizon."""
    depth, size = [], []
    for i in range(N):
        layout = generate_layout(9, i, "target", 96, 192)
        blobs, n = ndimage.label(layout.label == cls)
        for sl in ndimage.find_objects(blobs):
            top, bottom = sl[0].start, sl[0].stop
            if bottom < 96 and sl[1].start > 0 and sl[1].stop < 192:  # not cut by the border
                depth.append(bottom - layout.horizon)
                size.append(bottom - top)
    depth, size = np.array(depth), np.array(size)
    keep = depth > 1
    assert keep.sum() > 30
    rank = lambda v: np.argsort(np.argsort(v))
    rho = np.corrcoef(rank(depth[keep]), rank(size[keep]))[0, 1]
    assert rho > 0.6, rho


# -- prepared datasets -----------------------------------------------------------------------

def _cfg(**kw) -> SyntheticConfig:
    base = dict(seed=3, height=24, width=48, gap=1.0, source_train=4, target_train=3,
                target_val=2, target_test=2)
    base.update(kw)
    return SyntheticConfig(**base)


def test_prepare_synthetic_writes_disjoint_splits(tmp_path):
    cfg = _cfg()
    prepare_synthetic(cfg, "source", tmp_path / "src")
    prepare_synthetic(cfg, "target", tmp_path / "tgt")
    meta = read_meta(tmp_path / "src")
    assert meta["name"] == "synthetic-source" and meta["protocol"] == "cityscapes19"
    assert set(meta["splits"]) == {"train"} and meta["splits"]["train"]["count"] == 4
    assert meta["generator"]["config"] == dataclasses.asdict(cfg)
    # the recorded name is part of the prepared data's hash: it must not follow the code
    assert meta["generator"]["module"] == synthetic.__name__ == "advent.data.synthetic"
    assert meta["generator"]["style"]["noise"] == 0.0
    tmeta = read_meta(tmp_path / "tgt")
    assert tmeta["name"] == "synthetic-target"
    assert tmeta["generator"]["style"]["noise"] > 0
    counts = {"train": 3, "val": 2, "test": 2}
    ids, images = {}, []
    for split, n in counts.items():
        ds = PreparedDataset(tmp_path / "tgt", split)
        assert len(ds) == n and ds.image_size == (24, 48)
        ids[split] = set(ds.ids)
        for k in range(n):
            img, lab = ds.read_arrays(k)
            ref_img, ref_lab = generate_sample(3, int(ds.ids[k]), "target", 24, 48, 1.0)
            assert np.array_equal(img, ref_img) and np.array_equal(lab, ref_lab)
            images.append(img)
        image, label, index = ds[0]
        assert tuple(image.shape) == (3, 24, 48) and tuple(label.shape) == (24, 48) and index == 0
    assert not (ids["train"] & ids["val"] or ids["train"] & ids["test"] or ids["val"] & ids["test"])
    assert len({im.tobytes() for im in images}) == len(images)
    src = PreparedDataset(tmp_path / "src", "train")
    assert len(src) == 4
    assert not np.array_equal(src.read_arrays(0)[0], PreparedDataset(tmp_path / "tgt", "train").read_arrays(0)[0])


def test_prepare_rejects_bad_domain(tmp_path):
    with pytest.raises(ValueError, match="domain"):
        prepare_synthetic(_cfg(), "real", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_config_is_strict():
    good = dataclasses.asdict(_cfg())
    assert from_dict(SyntheticConfig, good, "data.synthetic") == _cfg()
    with pytest.raises(ConfigError, match="data.synthetic.gap"):
        from_dict(SyntheticConfig, {**good, "gap": 5.0}, "data.synthetic")
    with pytest.raises(ConfigError, match="data.synthetic.target_val"):
        from_dict(SyntheticConfig, {**good, "target_val": 0}, "data.synthetic")
    with pytest.raises(ConfigError, match="unknown parameter"):
        from_dict(SyntheticConfig, {**good, "colour": 1}, "data.synthetic")
