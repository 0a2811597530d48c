//! A sparse symmetric positive-definite solver for 9-point stencils on image grids:
//! conjugate gradients preconditioned by a geometric multigrid V-cycle with Galerkin coarse
//! operators (`A_c = Pᵀ A P`, bilinear `P`) and symmetric Gauss–Seidel smoothing, so the
//! preconditioner is itself symmetric and CG's guarantees hold.
//!
//! Grids are stored with a one-pixel zero border so that stencil code needs no bounds tests:
//! node `(x, y)` lives at `(y + 1) * (w + 2) + x + 1`, border nodes have no couplings and
//! vectors hold zeros there.

/// A symmetric 9-point operator: the diagonal and the couplings to the east, south,
/// south-east and south-west neighbours (the other four follow by symmetry).
#[derive(Debug, Clone)]
pub struct Stencil {
    pub w: usize,
    pub h: usize,
    pub diag: Vec<f32>,
    pub e: Vec<f32>,
    pub s: Vec<f32>,
    pub se: Vec<f32>,
    pub sw: Vec<f32>,
}

impl Stencil {
    /// An operator with no couplings and a zero diagonal, to be filled by index.
    pub fn zeros(w: usize, h: usize) -> Stencil {
        let n = (w + 2) * (h + 2);
        Stencil {
            w,
            h,
            diag: vec![0.0; n],
            e: vec![0.0; n],
            s: vec![0.0; n],
            se: vec![0.0; n],
            sw: vec![0.0; n],
        }
    }

    /// Row length of the padded grid.
    pub fn stride(&self) -> usize {
        self.w + 2
    }

    /// The padded index of interior node `(x, y)`.
    pub fn at(&self, x: usize, y: usize) -> usize {
        (y + 1) * self.stride() + x + 1
    }

    pub fn len(&self) -> usize {
        self.diag.len()
    }

    pub fn is_empty(&self) -> bool {
        self.diag.is_empty()
    }

    /// Sum over the 8 neighbours of coupling × value at node `p`.
    #[inline(always)]
    fn off(&self, p: usize, x: &[f32]) -> f32 {
        let sw_ = self.stride();
        self.e[p] * x[p + 1]
            + self.s[p] * x[p + sw_]
            + self.se[p] * x[p + sw_ + 1]
            + self.sw[p] * x[p + sw_ - 1]
            + self.e[p - 1] * x[p - 1]
            + self.s[p - sw_] * x[p - sw_]
            + self.se[p - sw_ - 1] * x[p - sw_ - 1]
            + self.sw[p - sw_ + 1] * x[p - sw_ + 1]
    }

    /// `y = A x`.
    pub fn apply(&self, x: &[f32], y: &mut [f32]) {
        for yy in 0..self.h {
            let row = self.at(0, yy);
            for p in row..row + self.w {
                y[p] = self.diag[p] * x[p] + self.off(p, x);
            }
        }
    }

    /// One Gauss–Seidel sweep in lexicographic order (`backward` reverses it).
    fn gauss_seidel(&self, x: &mut [f32], b: &[f32], backward: bool) {
        for k in 0..self.h {
            let yy = if backward { self.h - 1 - k } else { k };
            let row = self.at(0, yy);
            for j in 0..self.w {
                let p = if backward {
                    row + self.w - 1 - j
                } else {
                    row + j
                };
                let d = self.diag[p];
                if d != 0.0 {
                    x[p] = (b[p] - self.off(p, x)) / d;
                }
            }
        }
    }
}

/// Bilinear interpolation weights along one axis: fine index → (coarse index, weight)s.
fn interp_1d(n: usize) -> (usize, Vec<[(usize, f32); 2]>) {
    let nc = n.div_ceil(2);
    let taps = (0..n)
        .map(|x| {
            if x % 2 == 0 {
                [(x / 2, 1.0), (x / 2, 0.0)]
            } else if x.div_ceil(2) < nc {
                [((x - 1) / 2, 0.5), (x.div_ceil(2), 0.5)]
            } else {
                [((x - 1) / 2, 1.0), ((x - 1) / 2, 0.0)]
            }
        })
        .collect();
    (nc, taps)
}

/// One grid of the hierarchy with its transfer weights to the next coarser grid.
struct Grid {
    a: Stencil,
    px: Vec<[(usize, f32); 2]>,
    py: Vec<[(usize, f32); 2]>,
}

/// The multigrid hierarchy for one operator.
pub struct Multigrid {
    grids: Vec<Grid>,
}

/// Symmetric Gauss–Seidel sweeps (forward + backward) at the coarsest grid.
const COARSEST_SWEEPS: usize = 30;
/// Coarsening stops once the grid's longer side is at most this.
const COARSEST_SIDE: usize = 8;

impl Multigrid {
    pub fn new(a: Stencil) -> Multigrid {
        let mut grids = Vec::new();
        let mut cur = a;
        loop {
            let (w, h) = (cur.w, cur.h);
            let (_, px) = interp_1d(w);
            let (_, py) = interp_1d(h);
            if w.max(h) <= COARSEST_SIDE {
                grids.push(Grid { a: cur, px, py });
                break;
            }
            let coarse = galerkin(&cur, &px, &py);
            grids.push(Grid { a: cur, px, py });
            cur = coarse;
        }
        Multigrid { grids }
    }

    pub fn levels(&self) -> usize {
        self.grids.len()
    }

    /// `z ≈ A⁻¹ r` by one V-cycle from zero (a fixed symmetric linear operator of `r`).
    pub fn precondition(&self, r: &[f32], z: &mut [f32]) {
        self.vcycle(0, r, z);
    }

    fn vcycle(&self, l: usize, b: &[f32], x: &mut [f32]) {
        let g = &self.grids[l];
        x.iter_mut().for_each(|v| *v = 0.0);
        if l + 1 == self.grids.len() {
            for _ in 0..COARSEST_SWEEPS {
                g.a.gauss_seidel(x, b, false);
                g.a.gauss_seidel(x, b, true);
            }
            return;
        }
        g.a.gauss_seidel(x, b, false);
        // Residual, restricted with Pᵀ.
        let mut ax = vec![0.0f32; x.len()];
        g.a.apply(x, &mut ax);
        let c = &self.grids[l + 1].a;
        let mut bc = vec![0.0f32; c.len()];
        for y in 0..g.a.h {
            for xx in 0..g.a.w {
                let p = g.a.at(xx, y);
                let res = b[p] - ax[p];
                for &(cy, wy) in &g.py[y] {
                    for &(cx, wx) in &g.px[xx] {
                        bc[c.at(cx, cy)] += wx * wy * res;
                    }
                }
            }
        }
        let mut xc = vec![0.0f32; c.len()];
        self.vcycle(l + 1, &bc, &mut xc);
        for y in 0..g.a.h {
            for xx in 0..g.a.w {
                let p = g.a.at(xx, y);
                let mut v = 0.0;
                for &(cy, wy) in &g.py[y] {
                    for &(cx, wx) in &g.px[xx] {
                        v += wx * wy * xc[c.at(cx, cy)];
                    }
                }
                x[p] += v;
            }
        }
        g.a.gauss_seidel(x, b, true);
    }
}

/// `Pᵀ A P` for bilinear `P`; the result is again a symmetric 9-point stencil.
fn galerkin(a: &Stencil, px: &[[(usize, f32); 2]], py: &[[(usize, f32); 2]]) -> Stencil {
    let (wc, hc) = (a.w.div_ceil(2), a.h.div_ceil(2));
    let mut c = Stencil::zeros(wc, hc);
    // Full 9 couplings per coarse node, indexed (dy + 1) * 3 + (dx + 1).
    let mut full = vec![[0.0f32; 9]; wc * hc];
    let st = a.stride();
    for y in 0..a.h {
        for x in 0..a.w {
            let p = a.at(x, y);
            let neighbours: [(isize, isize, f32); 9] = [
                (0, 0, a.diag[p]),
                (1, 0, a.e[p]),
                (-1, 0, a.e[p - 1]),
                (0, 1, a.s[p]),
                (0, -1, a.s[p - st]),
                (1, 1, a.se[p]),
                (-1, -1, a.se[p - st - 1]),
                (-1, 1, a.sw[p]),
                (1, -1, a.sw[p - st + 1]),
            ];
            for (dx, dy, v) in neighbours {
                if v == 0.0 {
                    continue;
                }
                let (jx, jy) = (x as isize + dx, y as isize + dy);
                if jx < 0 || jy < 0 || jx >= a.w as isize || jy >= a.h as isize {
                    continue;
                }
                let (jx, jy) = (jx as usize, jy as usize);
                for &(ciy, wiy) in &py[y] {
                    for &(cix, wix) in &px[x] {
                        let wi = wix * wiy;
                        if wi == 0.0 {
                            continue;
                        }
                        let row = &mut full[ciy * wc + cix];
                        for &(cjy, wjy) in &py[jy] {
                            for &(cjx, wjx) in &px[jx] {
                                let wj = wjx * wjy;
                                if wj == 0.0 {
                                    continue;
                                }
                                let ox = cjx as isize - cix as isize + 1;
                                let oy = cjy as isize - ciy as isize + 1;
                                row[(oy * 3 + ox) as usize] += wi * v * wj;
                            }
                        }
                    }
                }
            }
        }
    }
    for y in 0..hc {
        for x in 0..wc {
            let f = &full[y * wc + x];
            let p = c.at(x, y);
            c.diag[p] = f[4];
            c.e[p] = f[5];
            c.s[p] = f[7];
            c.se[p] = f[8];
            c.sw[p] = f[6];
        }
    }
    c
}

/// How a solve ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveStats {
    pub iterations: usize,
    /// Final `‖b − A x‖ / ‖b‖`.
    pub relative_residual: f64,
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Solves `A x = b` (padded vectors) by multigrid-preconditioned CG from the guess in `x`,
/// until the relative residual is below `tol` or `max_iter` iterations; `should_stop` is
/// polled every iteration and ends the solve early when it returns true.
pub fn pcg(
    mg: &Multigrid,
    b: &[f32],
    x: &mut [f32],
    tol: f64,
    max_iter: usize,
    should_stop: &dyn Fn() -> bool,
) -> SolveStats {
    let a = &mg.grids[0].a;
    let n = a.len();
    let mut r = vec![0.0f32; n];
    a.apply(x, &mut r);
    for i in 0..n {
        r[i] = b[i] - r[i];
    }
    let bnorm = dot(b, b).sqrt().max(1e-30);
    let mut z = vec![0.0f32; n];
    mg.precondition(&r, &mut z);
    let mut p = z.clone();
    let mut rz = dot(&r, &z);
    let mut ap = vec![0.0f32; n];
    let mut rel = dot(&r, &r).sqrt() / bnorm;
    let mut it = 0;
    while rel > tol && it < max_iter && !should_stop() {
        a.apply(&p, &mut ap);
        let pap = dot(&p, &ap);
        if pap <= 0.0 {
            break;
        }
        let alpha = (rz / pap) as f32;
        for i in 0..n {
            x[i] += alpha * p[i];
            r[i] -= alpha * ap[i];
        }
        it += 1;
        rel = dot(&r, &r).sqrt() / bnorm;
        if rel <= tol {
            break;
        }
        mg.precondition(&r, &mut z);
        let rz_new = dot(&r, &z);
        let beta = (rz_new / rz) as f32;
        rz = rz_new;
        for i in 0..n {
            p[i] = z[i] + beta * p[i];
        }
    }
    SolveStats {
        iterations: it,
        relative_residual: rel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 5-point Poisson-like operator with varying coefficients plus a small shift.
    fn varying_laplacian(w: usize, h: usize) -> Stencil {
        let mut a = Stencil::zeros(w, h);
        for y in 0..h {
            for x in 0..w {
                let p = a.at(x, y);
                // Strong coupling left of x = w/3, weak (1e-3) across the seam.
                let ke = if x + 1 < w {
                    if x + 1 == w / 3 {
                        1e-3
                    } else {
                        1.0
                    }
                } else {
                    0.0
                };
                let ks = if y + 1 < h { 1.0 } else { 0.0 };
                let kd = if x + 1 < w && y + 1 < h { 0.5 } else { 0.0 };
                a.e[p] = -ke;
                a.s[p] = -ks;
                a.se[p] = -kd;
                a.sw[p] = if x > 0 && y + 1 < h { -0.25 } else { 0.0 };
            }
        }
        // Diagonal = sum of couplings + shift, row by row via apply on ones.
        let ones = vec![1.0f32; a.len()];
        let mut row_sums = vec![0.0f32; a.len()];
        a.apply(&ones, &mut row_sums);
        for y in 0..h {
            for x in 0..w {
                let p = a.at(x, y);
                a.diag[p] = -row_sums[p] + 1e-3;
            }
        }
        a
    }

    #[test]
    fn galerkin_operator_equals_the_explicit_triple_product() {
        let a = varying_laplacian(13, 10);
        let (_, px) = interp_1d(13);
        let (_, py) = interp_1d(10);
        let c = galerkin(&a, &px, &py);
        assert_eq!((c.w, c.h), (7, 5));
        // A_c x must equal Pᵀ (A (P x)) computed step by step, for a random x.
        let mut rng = crate::control::Rng::new(3);
        let mut xc = vec![0.0f32; c.len()];
        for y in 0..c.h {
            for x in 0..c.w {
                xc[c.at(x, y)] = rng.below(1000) as f32 / 1000.0;
            }
        }
        let mut xf = vec![0.0f32; a.len()];
        for y in 0..a.h {
            for x in 0..a.w {
                let mut v = 0.0;
                for &(cy, wy) in &py[y] {
                    for &(cx, wx) in &px[x] {
                        v += wx * wy * xc[c.at(cx, cy)];
                    }
                }
                xf[a.at(x, y)] = v;
            }
        }
        let mut af = vec![0.0f32; a.len()];
        a.apply(&xf, &mut af);
        let mut explicit = vec![0.0f32; c.len()];
        for y in 0..a.h {
            for x in 0..a.w {
                for &(cy, wy) in &py[y] {
                    for &(cx, wx) in &px[x] {
                        explicit[c.at(cx, cy)] += wx * wy * af[a.at(x, y)];
                    }
                }
            }
        }
        let mut ac = vec![0.0f32; c.len()];
        c.apply(&xc, &mut ac);
        for (u, v) in ac.iter().zip(&explicit) {
            assert!((u - v).abs() < 1e-4, "{u} vs {v}");
        }
    }

    #[test]
    fn pcg_solves_a_varying_coefficient_problem_quickly() {
        let (w, h) = (201, 157);
        let a = varying_laplacian(w, h);
        let mut rng = crate::control::Rng::new(5);
        let mut truth = vec![0.0f32; a.len()];
        for y in 0..h {
            for x in 0..w {
                truth[a.at(x, y)] = rng.below(1000) as f32 / 1000.0;
            }
        }
        let mut b = vec![0.0f32; a.len()];
        a.apply(&truth, &mut b);
        let mg = Multigrid::new(a);
        assert!(mg.levels() >= 5);
        let mut x = vec![0.0f32; b.len()];
        let stats = pcg(&mg, &b, &mut x, 1e-6, 200, &|| false);
        assert!(stats.relative_residual <= 1e-6, "{stats:?}");
        assert!(stats.iterations < 60, "{stats:?}");
        let err = x
            .iter()
            .zip(&truth)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 2e-2, "max error {err}");
    }
}
