"""Soft tissues around the spine: body outline, subcutaneous fat, muscles, lungs, head, and the
pelvis (iliac bones, bladder, rectum, uterus).

The body outline is an ellipse per axial level whose size follows the region (neck, chest,
abdomen, pelvis) and the position of the spine at that level.

Example:
    >>> import numpy as np
    >>> from spinemark.synth.config import PhantomConfig
    >>> from spinemark.synth.spine_model import sample_spine
    >>> from spinemark.synth.raster import PatientGrid
    >>> from spinemark.synth.pelvis import paint_body_wall
    >>> spine = sample_spine(PhantomConfig(), np.random.default_rng(0))
    >>> g = PatientGrid(np.array([-100.0, -150.0, -50.0]), np.array([4.0, 4.0, 4.0]), (50, 80, 30))
    >>> lab = np.zeros(g.shape, np.uint16); cls = np.zeros(g.shape, np.uint8)
    >>> paint_body_wall(spine, g, lab, cls, np.random.default_rng(0), 15.0)
    >>> bool((lab == 211).any())
    True
"""

from __future__ import annotations

import numpy as np

from spinemark.synth.config import TISSUES as T


def _cls(name: str) -> int:
    from spinemark.synth.raster import C

    return C[name]


def _centre(spine, name: str) -> np.ndarray:
    e = spine.element(name)
    return spine.frame((e.s_lo + e.s_hi) / 2)[0]


def _spine_at(spine, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(spine.points[:, 2])
    pz = spine.points[order, 2]
    return np.interp(z, pz, spine.points[order, 0]), np.interp(z, pz, spine.points[order, 1])


def _ellipses(lab, cls, grid, cx, cy, rx, ry, label, klass, keep=None):
    """Paint, for every axial plane k, the ellipse centred (cx[k], cy[k]) with radii (rx[k], ry[k])."""
    ok = (rx > 0) & (ry > 0)
    if not ok.any():
        return
    ks = np.nonzero(ok)[0]
    k0, k1 = ks[0], ks[-1] + 1
    lo = [np.min((cx - rx)[ok]), np.min((cy - ry)[ok]), grid.origin[2] + k0 * grid.spacing[2]]
    hi = [np.max((cx + rx)[ok]), np.max((cy + ry)[ok]), grid.origin[2] + (k1 - 1) * grid.spacing[2]]
    box = grid.box(lo, hi)
    if box is None:
        return
    ax = grid.axes()
    x = ax[0][box[0]][:, None, None]
    y = ax[1][box[1]][None, :, None]
    sl = box[2]
    rxs, rys = np.maximum(rx[sl], 1e-3).astype(np.float32), np.maximum(ry[sl], 1e-3).astype(np.float32)
    m = ((x - cx[sl].astype(np.float32)) / rxs) ** 2 + ((y - cy[sl].astype(np.float32)) / rys) ** 2 <= 1
    m &= ok[sl][None, None, :]
    if keep is not None:
        m &= np.isin(lab[box], keep)
    lab[box][m] = label
    cls[box][m] = klass


def paint_body_wall(spine, grid, lab, cls, rng, fat_mm: float) -> None:
    """Body outline (soft tissue inside subcutaneous fat), lungs, back muscles, psoas and the head."""
    z = grid.origin[2] + grid.spacing[2] * np.arange(grid.shape[2])
    xs, ys = _spine_at(spine, z)
    sc = spine.scale
    girth = float(rng.uniform(0.85, 1.2))
    names = ["Co", "S1", "L3", spine.sequence[7 + spine.params["n_thoracic"]], "T6", "T1", "C4", "C1"]
    zk = np.array([_centre(spine, n)[2] for n in names])
    prof = np.array([  # anterior, posterior (from the spine centre), half width
        [150, 60, 175], [165, 95, 165], [150, 100, 150], [150, 90, 150], [165, 80, 160], [95, 75, 175],
        [50, 70, 55], [40, 70, 60]], float) * sc
    prof[:, 0] *= girth
    prof[:, 2] *= girth
    ant, post, hw = (np.interp(z, zk, prof[:, i]) for i in range(3))
    cy, ry = ys + (ant - post) / 2, (ant + post) / 2
    _ellipses(lab, cls, grid, xs * 0, cy, hw, ry, T["subcutaneous_fat"], _cls("fat"))
    f = fat_mm * girth
    _ellipses(lab, cls, grid, xs * 0, cy, hw - f, ry - f * 0.8, T["soft_tissue"], _cls("soft"))
    # lungs: between T1 and the thoracolumbar junction
    z_t1, z_tl = zk[5], zk[3] + 25 * sc
    frac = np.clip((z - z_tl) / max(z_t1 + 25 * sc - z_tl, 1), 0, 1)
    shape = np.sqrt(np.clip(np.sin(np.pi * frac), 0, 1)) * (frac > 0) * (frac < 1)
    for side in (-1, 1):
        _ellipses(lab, cls, grid, xs + side * hw * 0.42, ys + 45 * sc, hw * 0.32 * shape, 65 * sc * shape,
                  T["lung"], _cls("lung"), keep=[T["soft_tissue"]])
    # back muscles follow the spine from the sacrum to the skull; psoas along the lumbar bodies
    z_s3 = _centre(spine, "S3")[2]
    back = ((z > z_s3) & (z < zk[7] + 20 * sc)).astype(float)
    big = np.interp(z, zk, np.array([0, 30, 30, 26, 20, 17, 14, 12]) * sc)
    for side in (-1, 1):
        _ellipses(lab, cls, grid, xs + side * (big + 6 * sc), ys - 22 * sc - big * 1.3, big * back,
                  big * 0.9 * back, T["muscle"], _cls("muscle"), keep=[T["soft_tissue"]])
    z_l1, z_s1 = zk[3], zk[1]
    ps = np.clip((z_l1 + 10 - z) / max(z_l1 - z_s1, 1), 0, 1) * (z > z_s1 - 30 * sc)
    for side in (-1, 1):
        _ellipses(lab, cls, grid, xs + side * (32 + 12 * ps) * sc, ys + (5 + 20 * ps) * sc, (6 + 16 * ps) * sc * (ps > 0),
                  (6 + 12 * ps) * sc * (ps > 0), T["muscle"], _cls("muscle"), keep=[T["soft_tissue"]])
    # aorta (left) and inferior vena cava (right) in front of the spine, T4 to L4
    z_t4, z_l4 = _centre(spine, "T4")[2], _centre(spine, spine.sequence[spine.sequence.index("S1") - 2])[2]
    vz = ((z > z_l4) & (z < z_t4)).astype(float)
    for side, r, dy in ((-1, 11.0, 28.0), (1, 10.0, 24.0)):
        _ellipses(lab, cls, grid, xs + side * 18 * sc, ys + dy * sc, r * sc * vz, r * sc * vz * (0.8 if side > 0 else 1),
                  T["vessel"], _cls("vessel"), keep=[T["soft_tissue"], T["muscle"]])
    # head above the atlas: skull shell and brain
    c1 = _centre(spine, "C1")
    hc = c1 + np.array([0, 15, 80]) * sc
    radii = np.array([72, 92, 80]) * sc
    rz = np.sqrt(np.clip(1 - ((z - hc[2]) / radii[2]) ** 2, 0, 1))
    _ellipses(lab, cls, grid, xs * 0 + hc[0], xs * 0 + hc[1], radii[0] * rz, radii[1] * rz, T["skull"], _cls("cortex"))
    rz2 = np.sqrt(np.clip(1 - ((z - hc[2]) / (radii[2] - 6)) ** 2, 0, 1))
    _ellipses(lab, cls, grid, xs * 0 + hc[0], xs * 0 + hc[1], (radii[0] - 6) * rz2, (radii[1] - 6) * rz2,
              T["soft_tissue"], _cls("brain"))


def paint_pelvis(spine, grid, lab, cls, rng, sex: str) -> None:
    """Iliac wings lateral to the sacroiliac joints, bladder, rectum and (female) uterus."""
    sc = spine.scale
    s1, s3, co = _centre(spine, "S1"), _centre(spine, "S3"), _centre(spine, "Co")
    ax = grid.axes()
    # iliac wings: thick plates flaring antero-laterally from the SI joint
    alpha = np.deg2rad(rng.uniform(25, 40))
    for side in (-1, 1):
        si = s1 + np.array([side * 57 * sc, -5 * sc, -8 * sc])
        n = np.array([np.cos(alpha) * side, -np.sin(alpha), 0.0])  # plate normal
        ctr = si + np.array([side * np.sin(alpha) * 45 * sc, np.cos(alpha) * 45 * sc, 20 * sc])
        e1 = np.cross(n, [0, 0, 1.0])
        e1 /= np.linalg.norm(e1)
        r1, r2, th = 58 * sc, 75 * sc, 7 * sc
        half = np.array([r1, r1, r2]) + th
        box = grid.box(ctr - half, ctr + half)
        if box is None:
            continue
        x = ax[0][box[0]][:, None, None] - np.float32(ctr[0])
        y = ax[1][box[1]][None, :, None] - np.float32(ctr[1])
        zz = ax[2][box[2]][None, None, :] - np.float32(ctr[2])
        d = x * np.float32(n[0]) + y * np.float32(n[1])
        a = x * np.float32(e1[0]) + y * np.float32(e1[1])
        curve = np.float32(0.004 / sc) * a**2  # the wing is bowl-shaped
        inplane = (a / np.float32(r1)) ** 2 + (zz / np.float32(r2)) ** 2 <= 1
        plate = inplane & (np.abs(d - curve) <= th) & np.isin(lab[box], [0, T["soft_tissue"], T["muscle"], T["subcutaneous_fat"]])
        lab[box][plate] = T["iliac_bone"]
        cls[box][plate] = _cls("iliac_marrow")
        rim = plate & (np.abs(d - curve) > th - 1.5)
        cls[box][rim] = _cls("cortex")
    # organs
    bl_fill = float(rng.uniform(0.5, 1.1))
    bc = co + np.array([0, 95, 18]) * sc
    _ellipsoid(grid, lab, cls, bc, np.array([42, 32, 32]) * sc * bl_fill, T["bladder"], _cls("urine"))
    if sex == "female":
        uc = bc + np.array([0, -25, 45]) * sc
        _ellipsoid(grid, lab, cls, uc, np.array([28, 20, 38]) * sc, T["uterus"], _cls("uterus"))
    # rectum: a tube in front of the lower sacrum and coccyx, then down to the anal canal
    for name, off in (("S3", 0), ("S4", 0), ("S5", 0), ("Co", 0)):
        e = spine.element(name)
        c, eu, ev, et = spine.frame((e.s_lo + e.s_hi) / 2)
        cen = c + ev * (e.depth / 2 + 20 * sc + off)
        _ellipsoid(grid, lab, cls, cen, np.array([18, 15, (e.s_hi - e.s_lo) / 2 + 8]) * sc, T["rectum"], _cls("rectum"))
    _ellipsoid(grid, lab, cls, co + np.array([0, 30, -35]) * sc, np.array([14, 12, 30]) * sc, T["rectum"], _cls("rectum"))
    del s3


def _ellipsoid(grid, lab, cls, centre, radii, label, klass) -> None:
    box = grid.box(centre - radii, centre + radii)
    if box is None:
        return
    ax = grid.axes()
    r = [(ax[i][box[i]] - np.float32(centre[i])) / np.float32(radii[i]) for i in range(3)]
    m = (r[0][:, None, None] ** 2 + r[1][None, :, None] ** 2 + r[2][None, None, :] ** 2) <= 1
    m &= lab[box] != 0  # stay inside the body
    lab[box][m] = label
    cls[box][m] = klass
