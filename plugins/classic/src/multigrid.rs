//! A sparse symmetric positive-definite solver for 9-point stencils on image grids:
//! conjugate gradients preconditioned by a geometric multigrid W-cycle with Galerkin coarse
//! operators (`A_c = Pᵀ A P`, operator-dependent `P`) and symmetric Gauss–Seidel smoothing, so the
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

/// Weights of one coarse cell's three fine points that are not coarse points themselves, to
/// the cell's corners. Cell `(I, J)` holds fine `(2I, 2J)` (the coarse point `(I, J)`),
/// `(2I+1, 2J)` ("east", between corners `(I, J)` and `(I+1, J)`), `(2I, 2J+1)` ("south",
/// between `(I, J)` and `(I, J+1)`) and `(2I+1, 2J+1)` ("centre", all four corners in the order
/// `(I, J)`, `(I+1, J)`, `(I, J+1)`, `(I+1, J+1)`).
#[derive(Debug, Clone, Copy, Default)]
struct CellWeights {
    east: [f32; 2],
    south: [f32; 2],
    centre: [f32; 4],
}

/// Operator-dependent interpolation from a grid's coarse grid (every other node in both
/// directions) back to it, as in Dendy's black-box multigrid: a fine node between two coarse
/// nodes takes them in proportion to its couplings towards each side (its stencil collapsed
/// across the line), a node in a cell's centre solves its own equation for the interpolated
/// values around it. Bilinear weights ignore the operator and, where couplings jump (an edge in
/// the picture, 8-bit steps in a flat area), make the coarse grids solve another problem: with
/// them the solve's iterations grew with the image (32 at 1 MP, 57 at 4 MP on an 8-bit grey
/// photo, V-cycle); with these 20 and 39, and still grow (see [`COARSE_CORRECTIONS`]).
struct Prolongation {
    /// Fine grid size.
    w: usize,
    h: usize,
    /// Coarse grid size, `ceil(w/2) × ceil(h/2)`.
    wc: usize,
    hc: usize,
    /// One per coarse cell, row-major, unpadded.
    cells: Vec<CellWeights>,
}

/// `num / den`, or 0 where the equation has no usable diagonal (decoupled, fixed nodes).
fn ratio(num: f32, den: f32) -> f32 {
    if den > 0.0 && den.is_finite() {
        num / den
    } else {
        0.0
    }
}

impl Prolongation {
    fn new(a: &Stencil) -> Prolongation {
        let (w, h) = (a.w, a.h);
        let (wc, hc) = (w.div_ceil(2), h.div_ceil(2));
        let st = a.stride();
        let mut cells = vec![CellWeights::default(); wc * hc];
        // The eight couplings of node p: (W, E, N, S, NW, NE, SW, SE).
        let couplings = |p: usize| -> [f32; 8] {
            [
                a.e[p - 1],
                a.e[p],
                a.s[p - st],
                a.s[p],
                a.se[p - st - 1],
                a.sw[p - st + 1],
                a.sw[p],
                a.se[p],
            ]
        };
        for cy in 0..hc {
            for cx in 0..wc {
                let cell = &mut cells[cy * wc + cx];
                let (x, y) = (2 * cx, 2 * cy);
                if x + 1 < w {
                    let p = a.at(x + 1, y);
                    let [cw, ce, cn, cs, cnw, cne, csw, cse] = couplings(p);
                    let centre = a.diag[p] + cn + cs;
                    cell.east = [
                        ratio(-(cw + cnw + csw), centre),
                        ratio(-(ce + cne + cse), centre),
                    ];
                }
                if y + 1 < h {
                    let p = a.at(x, y + 1);
                    let [cw, ce, cn, cs, cnw, cne, csw, cse] = couplings(p);
                    let centre = a.diag[p] + cw + ce;
                    cell.south = [
                        ratio(-(cn + cnw + cne), centre),
                        ratio(-(cs + csw + cse), centre),
                    ];
                }
            }
        }
        for cy in 0..hc {
            for cx in 0..wc {
                let (x, y) = (2 * cx, 2 * cy);
                if x + 1 >= w || y + 1 >= h {
                    continue;
                }
                let p = a.at(x + 1, y + 1);
                let [cw, ce, cn, cs, cnw, cne, csw, cse] = couplings(p);
                let here = cells[cy * wc + cx];
                // The east neighbour (2I+2, 2J+1) is the next cell's south node, the south
                // neighbour (2I+1, 2J+2) the next row's east node; past the grid both
                // couplings are zero.
                let next_south = if cx + 1 < wc {
                    cells[cy * wc + cx + 1].south
                } else {
                    [0.0; 2]
                };
                let below_east = if cy + 1 < hc {
                    cells[(cy + 1) * wc + cx].east
                } else {
                    [0.0; 2]
                };
                let d = a.diag[p];
                cells[cy * wc + cx].centre = [
                    ratio(-(cnw + cw * here.south[0] + cn * here.east[0]), d),
                    ratio(-(cne + ce * next_south[0] + cn * here.east[1]), d),
                    ratio(-(csw + cw * here.south[1] + cs * below_east[0]), d),
                    ratio(-(cse + ce * next_south[1] + cs * below_east[1]), d),
                ];
            }
        }
        Prolongation {
            w,
            h,
            wc,
            hc,
            cells,
        }
    }

    /// The row of `P` for fine node `(x, y)`: up to four (coarse x, coarse y, weight), unused
    /// ones with weight 0 (and a coarse position that may lie one past the grid).
    fn row(&self, x: usize, y: usize) -> [(usize, usize, f32); 4] {
        let (cx, cy) = (x / 2, y / 2);
        let c = &self.cells[cy * self.wc + cx];
        match (x % 2, y % 2) {
            (0, 0) => [(cx, cy, 1.0), (cx, cy, 0.0), (cx, cy, 0.0), (cx, cy, 0.0)],
            (1, 0) => [
                (cx, cy, c.east[0]),
                (cx + 1, cy, c.east[1]),
                (cx, cy, 0.0),
                (cx, cy, 0.0),
            ],
            (0, _) => [
                (cx, cy, c.south[0]),
                (cx, cy + 1, c.south[1]),
                (cx, cy, 0.0),
                (cx, cy, 0.0),
            ],
            _ => [
                (cx, cy, c.centre[0]),
                (cx + 1, cy, c.centre[1]),
                (cx, cy + 1, c.centre[2]),
                (cx + 1, cy + 1, c.centre[3]),
            ],
        }
    }

    /// How many of [`Prolongation::row`]'s entries are used at `(x, y)`: 1 at a coarse node, 2
    /// between two, 4 in a cell's centre (galerkin loops over exactly these).
    fn row_len(x: usize, y: usize) -> usize {
        1 << (x % 2 + y % 2)
    }

    /// `fine += P coarse` (padded vectors of the fine and the coarse stencil).
    fn add_prolonged(&self, fine_grid: &Stencil, coarse_grid: &Stencil, xc: &[f32], x: &mut [f32]) {
        let cs = coarse_grid.stride();
        for cy in 0..self.hc {
            for cx in 0..self.wc {
                let c = &self.cells[cy * self.wc + cx];
                let q = coarse_grid.at(cx, cy);
                // Corners; those past the grid read the zero border.
                let (v00, v10, v01, v11) = (xc[q], xc[q + 1], xc[q + cs], xc[q + cs + 1]);
                let (fx, fy) = (2 * cx, 2 * cy);
                let p = fine_grid.at(fx, fy);
                x[p] += v00;
                let east = fx + 1 < self.w;
                let south = fy + 1 < self.h;
                if east {
                    x[p + 1] += c.east[0] * v00 + c.east[1] * v10;
                }
                if south {
                    let ps = p + fine_grid.stride();
                    x[ps] += c.south[0] * v00 + c.south[1] * v01;
                    if east {
                        x[ps + 1] += c.centre[0] * v00
                            + c.centre[1] * v10
                            + c.centre[2] * v01
                            + c.centre[3] * v11;
                    }
                }
            }
        }
    }

    /// `coarse = Pᵀ fine` (overwrites the coarse vector's interior).
    fn restrict(&self, fine_grid: &Stencil, coarse_grid: &Stencil, r: &[f32], bc: &mut [f32]) {
        bc.iter_mut().for_each(|v| *v = 0.0);
        let cs = coarse_grid.stride();
        for cy in 0..self.hc {
            for cx in 0..self.wc {
                let c = &self.cells[cy * self.wc + cx];
                let (fx, fy) = (2 * cx, 2 * cy);
                let p = fine_grid.at(fx, fy);
                let east = fx + 1 < self.w;
                let south = fy + 1 < self.h;
                let re = if east { r[p + 1] } else { 0.0 };
                let (rs, rc) = if south {
                    let ps = p + fine_grid.stride();
                    (r[ps], if east { r[ps + 1] } else { 0.0 })
                } else {
                    (0.0, 0.0)
                };
                let q = coarse_grid.at(cx, cy);
                bc[q] += r[p] + c.east[0] * re + c.south[0] * rs + c.centre[0] * rc;
                // Weights towards corners past the grid are zero: nothing lands on the border.
                if cx + 1 < self.wc {
                    bc[q + 1] += c.east[1] * re + c.centre[1] * rc;
                }
                if cy + 1 < self.hc {
                    bc[q + cs] += c.south[1] * rs + c.centre[2] * rc;
                    if cx + 1 < self.wc {
                        bc[q + cs + 1] += c.centre[3] * rc;
                    }
                }
            }
        }
    }
}

/// One grid of the hierarchy with its interpolation from the next coarser grid.
struct Grid {
    a: Stencil,
    p: Option<Prolongation>,
}

/// The multigrid hierarchy for one operator.
pub struct Multigrid {
    grids: Vec<Grid>,
}

/// Symmetric Gauss–Seidel sweeps (forward + backward) at the coarsest grid.
const COARSEST_SWEEPS: usize = 30;
/// Coarse-grid corrections per cycle: 2 is a W-cycle. On 8-bit luma the affinities jump 100- to
/// 2000-fold across every quantisation contour, and a V-cycle's iterations grew with the image
/// (10, 20, 39, 59 at ¼, 1, 4, 16 MP on girl-1); the W-cycle's grow slower (10, 14, 24, 30) and
/// its twice-as-costly coarse work pays from 4 MP on (16 MP: 74 s against 101 s).
const COARSE_CORRECTIONS: usize = 2;
/// Coarsening stops once the grid's longer side is at most this.
const COARSEST_SIDE: usize = 8;

impl Multigrid {
    pub fn new(a: Stencil) -> Multigrid {
        let mut grids = Vec::new();
        let mut cur = a;
        loop {
            if cur.w.max(cur.h) <= COARSEST_SIDE {
                grids.push(Grid { a: cur, p: None });
                break;
            }
            let p = Prolongation::new(&cur);
            let coarse = galerkin(&cur, &p);
            grids.push(Grid { a: cur, p: Some(p) });
            cur = coarse;
        }
        Multigrid { grids }
    }

    pub fn levels(&self) -> usize {
        self.grids.len()
    }

    /// `z ≈ A⁻¹ r` by one W-cycle from zero (a fixed symmetric linear operator of `r`).
    pub fn precondition(&self, r: &[f32], z: &mut [f32]) {
        self.cycle(0, r, z);
    }

    /// One multigrid cycle for `A_l x = b` from `x = 0`: a forward Gauss–Seidel sweep, the
    /// coarse-grid correction [`COARSE_CORRECTIONS`] times, a backward sweep.
    fn cycle(&self, l: usize, b: &[f32], x: &mut [f32]) {
        let g = &self.grids[l];
        x.iter_mut().for_each(|v| *v = 0.0);
        let Some(p) = &g.p else {
            for _ in 0..COARSEST_SWEEPS {
                g.a.gauss_seidel(x, b, false);
                g.a.gauss_seidel(x, b, true);
            }
            return;
        };
        g.a.gauss_seidel(x, b, false);
        // Residual, restricted with Pᵀ.
        let mut res = vec![0.0f32; x.len()];
        residual(&g.a, x, b, &mut res);
        let c = &self.grids[l + 1].a;
        let mut bc = vec![0.0f32; c.len()];
        p.restrict(&g.a, c, &res, &mut bc);
        drop(res);
        let mut xc = vec![0.0f32; c.len()];
        self.cycle(l + 1, &bc, &mut xc);
        // The coarsest grid's own sweeps already solve it closely: one correction there.
        if COARSE_CORRECTIONS > 1 && self.grids[l + 1].p.is_some() {
            // x_c += B_c (b_c − A_c x_c): with B_c symmetric, so is the whole cycle.
            let (mut rc, mut dc) = (vec![0.0f32; c.len()], vec![0.0f32; c.len()]);
            for _ in 1..COARSE_CORRECTIONS {
                residual(c, &xc, &bc, &mut rc);
                self.cycle(l + 1, &rc, &mut dc);
                xc.iter_mut().zip(&dc).for_each(|(x, d)| *x += d);
            }
        }
        p.add_prolonged(&g.a, c, &xc, x);
        g.a.gauss_seidel(x, b, true);
    }
}

/// `r = b − A x`.
fn residual(a: &Stencil, x: &[f32], b: &[f32], r: &mut [f32]) {
    a.apply(x, r);
    for (r, &bv) in r.iter_mut().zip(b) {
        *r = bv - *r;
    }
}

/// `Pᵀ A P`; with `P` interpolating within each coarse cell, the result is again a symmetric
/// 9-point stencil.
fn galerkin(a: &Stencil, p: &Prolongation) -> Stencil {
    let (wc, hc) = (p.wc, p.hc);
    let mut c = Stencil::zeros(wc, hc);
    // Full 9 couplings per coarse node, indexed (dy + 1) * 3 + (dx + 1).
    let mut full = vec![[0.0f32; 9]; wc * hc];
    let st = a.stride();
    for y in 0..a.h {
        for x in 0..a.w {
            let q = a.at(x, y);
            let neighbours: [(isize, isize, f32); 9] = [
                (0, 0, a.diag[q]),
                (1, 0, a.e[q]),
                (-1, 0, a.e[q - 1]),
                (0, 1, a.s[q]),
                (0, -1, a.s[q - st]),
                (1, 1, a.se[q]),
                (-1, -1, a.se[q - st - 1]),
                (-1, 1, a.sw[q]),
                (1, -1, a.sw[q - st + 1]),
            ];
            let row_i = p.row(x, y);
            let row_i = &row_i[..Prolongation::row_len(x, y)];
            for (dx, dy, v) in neighbours {
                if v == 0.0 {
                    continue;
                }
                let (jx, jy) = (x as isize + dx, y as isize + dy);
                if jx < 0 || jy < 0 || jx >= a.w as isize || jy >= a.h as isize {
                    continue;
                }
                let (jx, jy) = (jx as usize, jy as usize);
                let row_j = p.row(jx, jy);
                let row_j = &row_j[..Prolongation::row_len(jx, jy)];
                for &(cix, ciy, wi) in row_i {
                    // A zero weight may name a corner past the grid; a zero `wj` only adds 0.
                    if wi == 0.0 {
                        continue;
                    }
                    let out = &mut full[ciy * wc + cix];
                    let wiv = wi * v;
                    for &(cjx, cjy, wj) in row_j {
                        let ox = cjx as isize - cix as isize + 1;
                        let oy = cjy as isize - ciy as isize + 1;
                        debug_assert!((0..3).contains(&ox) && (0..3).contains(&oy));
                        out[(oy * 3 + ox) as usize] += wiv * wj;
                    }
                }
            }
        }
    }
    for y in 0..hc {
        for x in 0..wc {
            let f = &full[y * wc + x];
            let q = c.at(x, y);
            c.diag[q] = f[4];
            c.e[q] = f[5];
            c.s[q] = f[7];
            c.se[q] = f[8];
            c.sw[q] = f[6];
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
    residual(a, x, b, &mut r);
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

    /// A vector with values in [0, 1) on `a`'s interior and zeros on its border.
    fn random_interior(a: &Stencil, seed: u64) -> Vec<f32> {
        let mut rng = crate::control::Rng::new(seed);
        let mut v = vec![0.0f32; a.len()];
        for y in 0..a.h {
            for x in 0..a.w {
                v[a.at(x, y)] = rng.below(1000) as f32 / 1000.0;
            }
        }
        v
    }

    #[test]
    fn galerkin_operator_equals_the_explicit_triple_product() {
        for (w, h) in [(13, 10), (12, 11), (9, 9)] {
            let a = varying_laplacian(w, h);
            let p = Prolongation::new(&a);
            let c = galerkin(&a, &p);
            assert_eq!((c.w, c.h), (w.div_ceil(2), h.div_ceil(2)));
            // A_c x must equal Pᵀ (A (P x)) computed step by step, for a random x.
            let xc = random_interior(&c, 3);
            let mut xf = vec![0.0f32; a.len()];
            p.add_prolonged(&a, &c, &xc, &mut xf);
            // The same P by its rows, which galerkin uses.
            for y in 0..h {
                for x in 0..w {
                    let v: f32 = p
                        .row(x, y)
                        .iter()
                        .filter(|t| t.2 != 0.0)
                        .map(|&(cx, cy, wt)| wt * xc[c.at(cx, cy)])
                        .sum();
                    assert!((v - xf[a.at(x, y)]).abs() < 1e-5, "P row at {x},{y}");
                }
            }
            let mut af = vec![0.0f32; a.len()];
            a.apply(&xf, &mut af);
            let mut explicit = vec![0.0f32; c.len()];
            p.restrict(&a, &c, &af, &mut explicit);
            let mut ac = vec![0.0f32; c.len()];
            c.apply(&xc, &mut ac);
            for (u, v) in ac.iter().zip(&explicit) {
                assert!((u - v).abs() < 1e-4, "{w}x{h}: {u} vs {v}");
            }
            // Nothing lands on the coarse border.
            for (i, v) in explicit.iter().enumerate() {
                let (x, y) = (i % c.stride(), i / c.stride());
                if x == 0 || y == 0 || x > c.w || y > c.h {
                    assert_eq!(*v, 0.0);
                }
            }
        }
    }

    #[test]
    fn interpolation_follows_the_couplings_and_keeps_constants() {
        // A pure Laplacian (no shift) interpolates a constant exactly; across the weak seam the
        // node next to it leans to its strongly coupled side.
        let (w, h) = (13, 9);
        let mut a = varying_laplacian(w, h);
        for y in 0..h {
            for x in 0..w {
                let q = a.at(x, y);
                a.diag[q] -= 1e-3;
            }
        }
        let p = Prolongation::new(&a);
        for y in 0..h {
            for x in 0..w {
                let sum: f32 = p.row(x, y).iter().map(|t| t.2).sum();
                assert!((sum - 1.0).abs() < 1e-4, "row sum {sum} at {x},{y}");
            }
        }
        // w/3 = 4: the seam (east coupling 1e-3) lies between x = 3 and x = 4; fine node 3 sits
        // between coarse 1 (x = 2) and coarse 2 (x = 4). Collapsed across its row it couples
        // 1 + 0.5 + 0.25 to the left column and 0.001 + 0.25 + 0.5 to the right one
        // (bilinear: 0.5 each).
        let r = p.row(3, 4);
        let left = 1.75 / (1.75 + 0.751);
        assert!(
            (r[0].2 - left).abs() < 1e-4 && (r[1].2 - (1.0 - left)).abs() < 1e-4,
            "{r:?}"
        );
    }

    #[test]
    fn pcg_solves_a_varying_coefficient_problem_quickly() {
        let (w, h) = (201, 157);
        let a = varying_laplacian(w, h);
        let truth = random_interior(&a, 5);
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
