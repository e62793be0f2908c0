"""Rasterize the phantom anatomy into an axis-aligned grid in patient space.

Two arrays are written: ``lab`` (uint16 label ids: registry ids for bodies and discs,
:data:`~spinemark.synth.config.TISSUES` for the rest) and ``cls`` (uint8 render classes,
:data:`CLASSES`, finer than labels: cortex vs marrow, nucleus vs annulus...). Each
structure is evaluated only inside its bounding box. Structures painted later win, and
vertebral bodies are painted last, so a body's label is never overwritten.

Example:
    >>> import numpy as np
    >>> from spinemark.synth.config import PhantomConfig
    >>> from spinemark.synth.spine_model import sample_spine
    >>> from spinemark.synth.raster import PatientGrid, rasterize
    >>> spine = sample_spine(PhantomConfig(), np.random.default_rng(0))
    >>> grid = PatientGrid(np.array([-60.0, -120.0, -80.0]), np.array([2.0, 2.0, 2.0]), (60, 100, 80))
    >>> lab, cls = rasterize(spine, grid, np.random.default_rng(0))
    >>> int((lab == 26).sum()) > 0  # S1 is in this box
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spinemark.synth.config import TISSUES as T
from spinemark.synth.pelvis import paint_body_wall, paint_pelvis
from spinemark.synth.spine_model import Element, Spine

CLASSES = ("air", "fat", "muscle", "marrow", "cortex", "nucleus", "annulus", "csf", "cord", "roots", "soft",
           "urine", "rectum", "uterus", "lung", "cartilage", "epidural_fat", "brain", "iliac_marrow",
           "nucleus_degenerated", "vessel")
"""Render classes (index = value in the class array)."""
C = {name: i for i, name in enumerate(CLASSES)}

_CANAL = {"cervical": (11.0, 7.5), "thoracic": (8.0, 7.5), "lumbar": (11.0, 8.5), "sacral": (8.0, 5.0),
          "coccygeal": (0.0, 0.0)}  # lateral and AP semi-axes (mm)
_SPINOUS = {"cervical": (20.0, 4.0, 0.35), "thoracic": (35.0, 4.5, 0.9), "lumbar": (30.0, 9.0, 0.1),
            "sacral": (12.0, 5.0, 0.2), "coccygeal": (0.0, 0.0, 0.0)}  # length, half-height, downward tilt
_TRANSVERSE = {"cervical": 12.0, "thoracic": 24.0, "lumbar": 30.0, "sacral": 0.0, "coccygeal": 0.0}


@dataclass(frozen=True)
class PatientGrid:
    """Axis-aligned grid in patient mm: ``origin`` is the centre of voxel (0, 0, 0)."""

    origin: np.ndarray
    spacing: np.ndarray
    shape: tuple[int, int, int]

    def axes(self) -> list[np.ndarray]:
        return [(self.origin[i] + self.spacing[i] * np.arange(self.shape[i])).astype(np.float32) for i in range(3)]

    def box(self, lo, hi) -> tuple[slice, slice, slice] | None:
        """Index slices of the voxels inside the patient-space box ``[lo, hi]`` (None if empty)."""
        a = np.ceil((np.asarray(lo) - self.origin) / self.spacing).astype(int)
        b = np.floor((np.asarray(hi) - self.origin) / self.spacing).astype(int) + 1
        a = np.clip(a, 0, self.shape)
        b = np.clip(b, 0, self.shape)
        if np.any(b <= a):
            return None
        return tuple(slice(int(i), int(j)) for i, j in zip(a, b))


def local_coords(grid: PatientGrid, box, centre, eu, ev, et):
    """Local coordinates (u right, v anterior, w cranial) of the voxels of ``box`` in a frame."""
    ax = grid.axes()
    x = ax[0][box[0]][:, None, None] - np.float32(centre[0])
    y = ax[1][box[1]][None, :, None] - np.float32(centre[1])
    z = ax[2][box[2]][None, None, :] - np.float32(centre[2])
    f32 = np.float32
    u = x * f32(eu[0]) + y * f32(eu[1]) + z * f32(eu[2])
    v = x * f32(ev[0]) + y * f32(ev[1]) + z * f32(ev[2])
    w = x * f32(et[0]) + y * f32(et[1]) + z * f32(et[2])
    return u, v, w


def _frame_box(grid: PatientGrid, c, eu, ev, et, u_rng, v_rng, w_rng):
    corners = np.array([[u, v, w] for u in u_rng for v in v_rng for w in w_rng])
    pts = c + corners @ np.stack([eu, ev, et])
    return grid.box(pts.min(0) - 1, pts.max(0) + 1)


class _Plane:
    """Signed distance to the plane normal to the curve at arc length s, in local coordinates."""

    def __init__(self, spine: Spine, s: float, c, eu, ev, et):
        p, _, _, t = spine.frame(s)
        self.k = np.float32([t @ eu, t @ ev, t @ et])
        self.d0 = np.float32((c - p) @ t)

    def __call__(self, u, v, w):
        return u * self.k[0] + v * self.k[1] + w * self.k[2] + self.d0


def body_mask(spine: Spine, e: Element, u, v, w, c, eu, ev, et):
    """Boolean mask of a vertebral body (or C1 anterior arch) and of its cortical shell."""
    a, b = np.float32(e.width / 2), np.float32(e.depth / 2)
    if e.name == "C1":  # anterior arch, in front of the dens
        vv = v - np.float32(spine.element("C2").depth / 2 + b + 1.5)
        r2 = (u / a) ** 2 + (vv / b) ** 2 + (w / np.float32((e.s_hi - e.s_lo) / 2)) ** 2
        inside = r2 <= 1
        return inside, inside & (r2 > 0.45)
    r2 = (u / a) ** 2 + (v / b) ** 2
    lo, hi = _Plane(spine, e.s_lo, c, eu, ev, et), _Plane(spine, e.s_hi, c, eu, ev, et)
    conc = np.float32(e.concavity) * np.maximum(0, 1 - r2)
    dlo, dhi = lo(u, v, w), hi(u, v, w)
    post = -b * (np.float32(0.82) + np.float32(0.2) * (u / a) ** 2)
    inside = (r2 <= 1) & (v >= post) & (dlo >= conc) & (dhi <= -conc)
    if e.name == "C2":  # the dens rises from the body into the atlas ring
        dens = ((u / 5.0) ** 2 + ((v - b * 0.1) / 5.0) ** 2 <= 1) & (dhi > -1) & (dhi < 14.0 * spine.scale)
        inside |= dens
    t = np.float32(1.2)
    shell = inside & ((r2 > (1 - t / a) ** 2) | (dlo < conc + t) | (dhi > -conc - t) | (v < post + t))
    return inside, shell


def disc_masks(spine: Spine, e: Element, u, v, w, c, eu, ev, et):
    """Masks of a whole disc and of its nucleus."""
    g = np.float32(e.degeneration)
    a, b = np.float32(e.width / 2 * (1.03 + 0.06 * g)), np.float32(e.depth / 2 * (1.03 + 0.06 * g))
    r2 = (u / a) ** 2 + (v / b) ** 2
    lo, hi = _Plane(spine, e.s_lo, c, eu, ev, et), _Plane(spine, e.s_hi, c, eu, ev, et)
    conc = np.float32(e.concavity) * np.maximum(0, 1 - r2)
    dlo, dhi = lo(u, v, w), hi(u, v, w)
    post = -b * (np.float32(0.82) + np.float32(0.2) * (u / a) ** 2)
    inside = (r2 <= 1) & (v >= post) & (dlo >= -conc) & (dhi <= conc)
    f = np.float32(0.6 - 0.25 * g)
    h = np.float32((e.s_hi - e.s_lo) / 2)
    mid = (dlo - dhi) / 2 - h  # 0 at the mid plane
    nucleus = inside & ((u / (a * f)) ** 2 + ((v + 0.12 * b) / (b * f * 0.9)) ** 2 + (mid / (h * 0.85 + 1)) ** 2 <= 1)
    return inside, nucleus


def _paint(lab, cls, box, mask, label, klass):
    if box is None:
        return
    sub_l, sub_c = lab[box], cls[box]
    sub_l[mask] = label
    sub_c[mask] = klass


def paint_element_posterior(spine: Spine, e: Element, grid: PatientGrid, lab, cls) -> None:
    """Spinal canal (CSF, cord or cauda equina, epidural fat) and the vertebral arch of one element."""
    sm = (e.s_lo + e.s_hi) / 2
    c, eu, ev, et = spine.frame(sm)
    reg = e.region
    ac, bc = (np.float32(x * spine.scale) for x in _CANAL[reg])
    if ac == 0:
        return
    b = e.depth / 2
    vc = np.float32(-(b * 0.82 + bc + 1.0))
    is_body = e.kind == "body" and e.name != "C1"
    t_arch = np.float32((4.0 if reg == "cervical" else 6.0) * spine.scale)
    sp_len, sp_h, sp_tilt = _SPINOUS[reg]
    sp_len *= 1.5 if e.name == "C7" else 1.0
    sp_len, sp_h = sp_len * spine.scale, sp_h * spine.scale
    tp = _TRANSVERSE[reg] * spine.scale
    u_ext = float(max(ac + t_arch + tp, e.width / 2 + (60 * spine.scale if e.name in ("S1", "S2", "S3") else 0)))
    v_lo = float(vc - bc - t_arch - sp_len - 2)
    h = (e.s_hi - e.s_lo) / 2 + 12
    box = _frame_box(grid, c, eu, ev, et, (-u_ext, u_ext), (v_lo, b), (-h - sp_len * sp_tilt, h))
    if box is None:
        return
    u, v, w = local_coords(grid, box, c, eu, ev, et)
    lo, hi = _Plane(spine, e.s_lo, c, eu, ev, et), _Plane(spine, e.s_hi, c, eu, ev, et)
    dlo, dhi = lo(u, v, w), hi(u, v, w)
    span = (dlo >= 0) & (dhi <= 0)
    rc2 = (u / ac) ** 2 + ((v - vc) / bc) ** 2
    canal = span & (rc2 <= 1)
    if is_body:
        ring = span & (rc2 > 1) & ((u / (ac + t_arch)) ** 2 + ((v - vc) / (bc + t_arch)) ** 2 <= 1) & (v < -b * 0.6)
        v0 = vc - bc - t_arch + 2
        wsp = w + np.float32(sp_tilt) * (v - v0)
        spinous = (np.abs(u) <= 3.5 * spine.scale) & (v <= v0) & (v >= v0 - sp_len) & (np.abs(wsp) <= sp_h)
        tproc = (np.abs(w) <= 5 * spine.scale) & (np.abs(v - vc) <= 4.5 * spine.scale) & (np.abs(u) <= ac + t_arch + tp)
        arch = ring | spinous | (tproc & ~canal)
        if e.name in ("S1", "S2", "S3"):
            k = ("S1", "S2", "S3").index(e.name)
            ala_w = np.float32((52 - 5 * k) * spine.scale)
            ala = span & (np.abs(u) <= ala_w) & (v <= b * 0.7) & (v >= -b * 1.1)
            joint = span & (np.abs(u) > ala_w) & (np.abs(u) <= ala_w + 3) & (v <= b * 0.5) & (v >= -b * 1.3)
            _paint(lab, cls, box, joint, T["sacroiliac_joint"], C["cartilage"])
            arch |= ala
        _paint(lab, cls, box, arch, T["posterior_elements"], C["marrow"])
        shell = arch & ~((u / (ac + t_arch - 1.5)) ** 2 + ((v - vc) / (bc + t_arch - 1.5)) ** 2 <= 1) & ring
        _paint(lab, cls, box, shell, T["posterior_elements"], C["cortex"])
    epi = canal & (rc2 > 0.55) & (v < vc - 0.3 * bc)
    _paint(lab, cls, box, canal, T["spinal_canal_csf"], C["csf"])
    _paint(lab, cls, box, epi, T["epidural_fat"], C["epidural_fat"])
    if sm > spine.conus_s:
        cord = (u / (ac * 0.5)) ** 2 + ((v - vc - 0.1 * bc) / (bc * 0.6)) ** 2 <= 1
        tip = np.clip((sm - spine.conus_s) / 15.0, 0.35, 1.0)  # conus medullaris tapers
        cord &= (u / (ac * 0.5 * tip)) ** 2 + ((v - vc - 0.1 * bc) / (bc * 0.6 * tip)) ** 2 <= 1
        _paint(lab, cls, box, canal & cord, T["spinal_cord"], C["cord"])
    elif reg in ("lumbar", "thoracic"):
        roots = canal & (rc2 < 0.6) & (np.cos(u * np.float32(2.2)) > 0.55) & (v < vc + 0.3 * bc)
        _paint(lab, cls, box, roots, T["cauda_equina"], C["roots"])


def paint_element(spine: Spine, e: Element, grid: PatientGrid, lab, cls) -> None:
    """A vertebral body (with cortex) or a disc (annulus and nucleus)."""
    c, eu, ev, et = spine.frame((e.s_lo + e.s_hi) / 2)
    a, b = e.width / 2 * 1.1, e.depth / 2 * 1.1
    h = (e.s_hi - e.s_lo) / 2 + e.concavity + 2
    if e.name == "C2":
        h += 16 * spine.scale
    if e.name == "C1":
        b = spine.element("C2").depth + e.depth
    box = _frame_box(grid, c, eu, ev, et, (-a, a), (-b, b), (-h, h))
    if box is None:
        return
    u, v, w = local_coords(grid, box, c, eu, ev, et)
    if e.kind == "body":
        inside, shell = body_mask(spine, e, u, v, w, c, eu, ev, et)
        _paint(lab, cls, box, inside, e.label, C["marrow"])
        _paint(lab, cls, box, shell, e.label, C["cortex"])
    else:
        inside, nucleus = disc_masks(spine, e, u, v, w, c, eu, ev, et)
        _paint(lab, cls, box, inside, e.label, C["annulus"])
        _paint(lab, cls, box, nucleus, e.label, C["nucleus_degenerated"] if e.degeneration > 0.5 else C["nucleus"])


def rasterize(spine: Spine, grid: PatientGrid, rng: np.random.Generator, sex: str = "female", fat_mm: float = 15.0):
    """Label and class arrays of the whole phantom on ``grid``."""
    lab = np.zeros(grid.shape, np.uint16)
    cls = np.zeros(grid.shape, np.uint8)
    paint_body_wall(spine, grid, lab, cls, rng, fat_mm)
    paint_pelvis(spine, grid, lab, cls, rng, sex)
    for e in spine.elements:
        paint_element_posterior(spine, e, grid, lab, cls)
    for e in spine.elements:
        if e.kind == "disc":
            paint_element(spine, e, grid, lab, cls)
    for e in spine.elements:
        if e.kind == "body":
            paint_element(spine, e, grid, lab, cls)
    return lab, cls


def body_centroid(spine: Spine, e: Element, step: float = 0.7) -> np.ndarray:
    """Exact centroid (patient mm) of a body or disc, from its indicator on a fine local grid."""
    c, eu, ev, et = spine.frame((e.s_lo + e.s_hi) / 2)
    a, b = e.width / 2 * 1.1, e.depth / 2 * 1.1
    h = (e.s_hi - e.s_lo) / 2 + e.concavity + 2 + (16 * spine.scale if e.name == "C2" else 0)
    if e.name == "C1":
        b = spine.element("C2").depth + e.depth
    uu = np.arange(-a, a + step, step, dtype=np.float32)
    vv = np.arange(-b, b + step, step, dtype=np.float32)
    ww = np.arange(-h, h + step, step, dtype=np.float32)
    u, v, w = uu[:, None, None], vv[None, :, None], ww[None, None, :]
    if e.kind == "body":
        inside, _ = body_mask(spine, e, u, v, w, c, eu, ev, et)
    else:
        inside, _ = disc_masks(spine, e, u, v, w, c, eu, ev, et)
    inside = np.broadcast_to(inside, (len(uu), len(vv), len(ww)))
    iu, iv, iw = np.nonzero(inside)
    if len(iu) == 0:
        return c
    loc = np.array([uu[iu].mean(), vv[iv].mean(), ww[iw].mean()])
    return c + loc @ np.stack([eu, ev, et])
