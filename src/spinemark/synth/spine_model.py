"""The procedural spine: counts, curves, vertebra and disc sizes and their frames in patient space.

Patient space is RAS millimetres (x right, y anterior, z superior) with the centre of the
S1 upper endplate at the origin. The spine is a chain of elements (vertebral bodies and
discs) laid along a centre curve of arc length ``s`` (``s = 0`` at the S1 endplate,
positive cranially). Each element spans ``[s_lo, s_hi]``; its end planes are normal to
the curve there, so wedging follows the curvature and neighbouring elements fit exactly.

Example:
    >>> import numpy as np
    >>> from spinemark.synth.config import PhantomConfig
    >>> from spinemark.synth.spine_model import sample_spine
    >>> spine = sample_spine(PhantomConfig(n_lumbar=6), np.random.default_rng(0))
    >>> [e.name for e in spine.elements if e.kind == "body"][-9:-5]
    ['L4', 'L5', 'L6', 'S1']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spinemark import anatomy
from spinemark.synth.config import PhantomConfig

# Adult reference sizes (mm): body height at the centre line, full width (lateral), full depth (AP).
_BODY = {  # key: position 0..1 inside a region -> (height, width, depth) at start and end of region
    "cervical": ((14.0, 17.0, 15.0), (14.5, 23.0, 17.0)),
    "thoracic": ((17.0, 26.0, 17.0), (24.0, 40.0, 29.0)),
    "lumbar": ((26.0, 42.0, 31.0), (27.0, 50.0, 35.0)),
}
_SACRAL = [(28.0, 48.0, 32.0), (23.0, 38.0, 25.0), (18.0, 30.0, 19.0), (14.0, 23.0, 15.0), (11.0, 17.0, 11.0)]
_DISC_H = {"cervical": (5.0, 5.5), "thoracic": (4.0, 6.5), "lumbar": (9.0, 11.5)}


@dataclass
class Element:
    """One vertebral body or disc of the chain.

    Attributes:
        name: Vertebra name (``"L5"``) or disc name (``"L5/S1"``).
        label: Label id (registry id; disc ids for discs).
        kind: ``"body"`` or ``"disc"``.
        region: Anatomical region of the vertebra (of the upper vertebra for a disc).
        s_lo, s_hi: Arc-length span along the centre curve (mm).
        width, depth: Full lateral and antero-posterior size (mm).
        concavity: Endplate concavity depth (mm).
        degeneration: 0..1, discs only.
    """

    name: str
    label: int
    kind: str
    region: str
    s_lo: float
    s_hi: float
    width: float
    depth: float
    concavity: float = 0.0
    degeneration: float = 0.0


@dataclass
class Spine:
    """A sampled spine: the chain of elements and its centre curve (sampled every ``ds`` mm)."""

    sequence: tuple[str, ...]
    elements: list[Element]
    s: np.ndarray  # (N,) arc length
    points: np.ndarray  # (N, 3) centre curve, patient mm
    tangents: np.ndarray  # (N, 3) unit, cranial
    anteriors: np.ndarray  # (N, 3) unit, anterior direction of the vertebra (includes axial rotation)
    scale: float
    conus_s: float  # arc length where the cord ends
    params: dict = field(default_factory=dict)

    def frame(self, s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Centre point, lateral (right), anterior and cranial unit vectors at arc length ``s``."""
        i = float(np.interp(s, self.s, np.arange(len(self.s))))
        i0 = int(np.clip(np.floor(i), 0, len(self.s) - 2))
        f = i - i0
        p = (1 - f) * self.points[i0] + f * self.points[i0 + 1]
        t = (1 - f) * self.tangents[i0] + f * self.tangents[i0 + 1]
        t /= np.linalg.norm(t)
        a = (1 - f) * self.anteriors[i0] + f * self.anteriors[i0 + 1]
        a = a - (a @ t) * t
        a /= np.linalg.norm(a)
        return p, np.cross(a, t), a, t

    def element(self, name: str) -> Element:
        for e in self.elements:
            if e.name == name:
                return e
        raise KeyError(name)


def _draw(value, rng, lo, hi):
    return float(value) if value is not None else float(rng.uniform(lo, hi))


def draw_counts(cfg: PhantomConfig, rng: np.random.Generator) -> tuple[int, int]:
    """Thoracic and lumbar counts from the config (forced or drawn with the variant probabilities)."""
    u1, u2 = rng.random(2)
    n_t = cfg.n_thoracic or (13 if u1 < cfg.p_t13 else 11 if u1 < cfg.p_t13 + cfg.p_t11 else 12)
    n_l = cfg.n_lumbar or (6 if u2 < cfg.p_l6 else 4 if u2 < cfg.p_l6 + cfg.p_four_lumbar else 5)
    return int(n_t), int(n_l)


def _size(region: str, k: int, n: int) -> tuple[float, float, float]:
    a, b = _BODY[region]
    f = k / max(n - 1, 1)
    return tuple(float((1 - f) * x + f * y) for x, y in zip(a, b))


def sample_spine(cfg: PhantomConfig, rng: np.random.Generator) -> Spine:
    """Draw counts, sizes, curves and degeneration, and lay out the chain of elements."""
    n_t, n_l = draw_counts(cfg, rng)
    seq = anatomy.standard_sequence(n_thoracic=n_t, n_lumbar=n_l, coccyx=True)
    scale = _draw(cfg.body_scale, rng, 0.85, 1.15)
    ss = _draw(cfg.sacral_slope_deg, rng, 30.0, 50.0)
    tk = _draw(cfg.thoracic_kyphosis_deg, rng, 25.0, 50.0)
    # sagittal balance: the lordoses compensate sacral slope and kyphosis, so the head sits over the pelvis
    ll = cfg.lumbar_lordosis_deg
    if ll is None:
        ll = float(np.clip(ss + 0.5 * tk + rng.normal(0, 6), 25, 80))
    cl = cfg.cervical_lordosis_deg
    if cl is None:
        cl = float(np.clip(ss - ll + tk + rng.normal(0, 6), 0, 45))
    sc = _draw(cfg.scoliosis_deg, rng, 0.0, 1.0)
    if cfg.scoliosis_deg is None:  # most spines are straight; some have a mild curve
        sc = float(rng.uniform(0, 25)) if sc < 0.25 else 0.0
    sac_curve = float(rng.uniform(45, 75))
    # --- chain sizes, cranial to caudal (mobile part) then sacrum/coccyx
    mobile = [n for n in seq if anatomy.region(n) in ("cervical", "thoracic", "lumbar")]
    by_region: dict[str, list[str]] = {}
    for n in mobile:
        by_region.setdefault(anatomy.region(n), []).append(n)
    elems_up: list[Element] = []  # built from S1 upwards
    s = 0.0
    deg_max = float(np.clip(cfg.degeneration, 0.0, 1.0))
    for name in reversed(mobile):
        reg = anatomy.region(name)
        names = by_region[reg]
        k = names.index(name)
        h, w, d = _size(reg, k, len(names))
        if name in ("C1", "C2"):
            h, w, d = (20.0, 18.0, 15.0) if name == "C2" else (10.0, 10.0, 8.0)
        h, w, d = h * scale, w * scale, d * scale
        lo_h, hi_h = _DISC_H[reg]
        dh = (lo_h + (hi_h - lo_h) * k / max(len(names) - 1, 1)) * scale
        below = seq[seq.index(name) + 1]
        if name != "C1":
            lumbar_w = 1.0 if reg == "lumbar" else 0.4
            g = deg_max * lumbar_w * float(rng.random() ** 1.5) if deg_max > 0 else 0.0
            dh_eff = dh * (1 - 0.45 * g)
            elems_up.append(Element(f"{name}/{below}", anatomy.disc_id(name), "disc", reg, s, s + dh_eff, w, d,
                                    concavity=0.06 * h, degeneration=g))
            s += dh_eff
        if name == "C1":  # the atlas sits around the dens at C2 level; its "body" is the anterior arch
            c2 = elems_up[-1]
            top = c2.s_hi
            elems_up.append(Element("C1", anatomy.name_to_id("C1"), "body", reg, top - 4 * scale, top + 6 * scale,
                                    w, d))
            continue
        elems_up.append(Element(name, anatomy.name_to_id(name), "body", reg, s, s + h, w, d, concavity=0.06 * h))
        s += h
    top_s = s
    elems_down: list[Element] = []
    s = 0.0
    sac = [n for n in seq if anatomy.region(n) == "sacral"]
    for k, name in enumerate(sac):
        h, w, d = (v * scale for v in _SACRAL[k])
        elems_down.append(Element(name, anatomy.name_to_id(name), "body", "sacral", s - h, s, w, d, concavity=0.0))
        s -= h
    s -= 2.0 * scale
    co_h = float(rng.uniform(20, 32)) * scale
    elems_down.append(Element("Co", anatomy.name_to_id("Co"), "body", "coccygeal", s - co_h, s, 12 * scale, 9 * scale))
    bottom_s = s - co_h
    elements = list(reversed(elems_up)) + elems_down
    # --- centre curve: tangent angle theta from vertical in the sagittal plane (positive = anterior-up)
    ds = 0.5
    sgrid = np.arange(bottom_s - 10, top_s + 40 + ds, ds)
    l1_top = next(e.s_hi for e in elems_up if e.name == seq[7 + n_t])  # top of the first lumbar
    t_top = next(e.s_hi for e in elems_up if e.name == "T1")
    c_top = top_s
    kappa = np.zeros_like(sgrid)
    # lordosis: ll between the tops of L1 and S1, bending more the lower it lies (weight falling as the square of the
    # distance from the bottom of S1), and on through the body of S1, the promontory: the real scans' links turn a
    # median 8, 13, 25 and 33 degrees at L3, L4, L5 and S1 (``benchmarks/lumbosacral_angles.py``)
    s1_lo = elems_down[0].s_lo
    w = np.where((sgrid >= s1_lo) & (sgrid < l1_top), (1 - (sgrid - s1_lo) / (l1_top - s1_lo)) ** 2, 0.0)
    kappa -= np.deg2rad(ll) * w / (w[sgrid >= 0].sum() * ds)
    kappa[(sgrid >= l1_top) & (sgrid < t_top)] = np.deg2rad(tk) / (t_top - l1_top)
    kappa[(sgrid >= t_top) & (sgrid < c_top)] = np.deg2rad(cl) * -1 / (c_top - t_top)
    sac_len = -elems_down[-2].s_lo
    kappa[(sgrid < s1_lo) & (sgrid >= -sac_len - 30)] = np.deg2rad(sac_curve) / (sac_len + 30 + s1_lo)
    from scipy.ndimage import gaussian_filter1d

    kappa = gaussian_filter1d(kappa, 10 / ds)
    i0 = int(np.argmin(np.abs(sgrid)))
    theta = np.cumsum(kappa) * ds
    theta = theta - theta[i0] + np.deg2rad(ss)
    y = np.cumsum(np.sin(theta)) * ds
    z = np.cumsum(np.cos(theta)) * ds
    # scoliosis: a lateral C (or S) curve over the thoracolumbar spine, in mm
    span = (sgrid - l1_top * 0.3) / (t_top - l1_top * 0.3)
    amp = np.deg2rad(sc) * (t_top - l1_top) / np.pi
    n_bends = 1 if rng.random() < 0.6 else 2
    xs = np.where((span > 0) & (span < 1), amp * np.sin(np.pi * n_bends * np.clip(span, 0, 1)), 0.0)
    xs *= float(rng.choice([-1.0, 1.0]))
    xs = gaussian_filter1d(xs, 20 / ds)  # the curve bends in over centimetres, as the sagittal curves do, not at a kink
    pts = np.stack([xs, y, z], axis=1)
    pts -= pts[i0]
    tang = np.gradient(pts, ds, axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True)
    # anterior direction: world anterior made orthogonal, rotated axially with the scoliosis
    ant = np.array([0.0, 1.0, 0.0]) - tang[:, 1:2] * tang
    ant /= np.linalg.norm(ant, axis=1, keepdims=True)
    rot = np.deg2rad(0.6 * sc) * np.where(amp > 0, xs / max(amp, 1e-6), 0.0)
    right = np.cross(ant, tang)
    ant = np.cos(rot)[:, None] * ant + np.sin(rot)[:, None] * right
    # the cord ends between the T12/L1 and the L2/L3 discs
    lum = [e for e in elems_up if e.kind == "body" and anatomy.region(e.name) == "lumbar"]
    l1, l2 = lum[-1], lum[-2] if len(lum) > 1 else lum[-1]
    conus = float(rng.uniform(l2.s_lo, l1.s_hi))
    params = {"n_thoracic": n_t, "n_lumbar": n_l, "body_scale": scale, "sacral_slope_deg": ss,
              "lumbar_lordosis_deg": ll, "thoracic_kyphosis_deg": tk, "cervical_lordosis_deg": cl,
              "scoliosis_deg": sc, "sacral_curve_deg": sac_curve}
    return Spine(seq, elements, sgrid, pts, tang, ant, scale, conus, params)
