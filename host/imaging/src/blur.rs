//! Gaussian-like blur of a coverage plane: three passes of an extended box filter per axis.
//!
//! An integer-width box cannot match small sigmas (a 1 px feather would do nothing), so each pass
//! uses the extended box of Gwosdek et al. (2011): a box of radius `l` plus weight `alpha` on the
//! two samples just outside it, chosen so that the pass's variance is exactly sigma^2 / 3 and the
//! three passes together have variance sigma^2. Each pass is O(1) per pixel with running sums.
//! Edges replicate the border pixel, so a fully selected image stays fully selected.

/// One extended box: radius `l`, outer weight `alpha`, normalisation `1 / (2l + 1 + 2 alpha)`.
#[derive(Clone, Copy, Debug)]
struct BoxKernel {
    l: usize,
    alpha: f64,
    norm: f64,
}

impl BoxKernel {
    /// The extended box with variance `var`.
    fn with_variance(var: f64) -> Self {
        // Largest integer box (variance l(l+1)/3) not wider than asked.
        let mut l = ((-1.0 + (1.0 + 12.0 * var).sqrt()) / 2.0).floor().max(0.0) as usize;
        while (l as f64 + 1.0) * (l as f64 + 2.0) / 3.0 <= var {
            l += 1;
        }
        while l > 0 && (l as f64) * (l as f64 + 1.0) / 3.0 > var {
            l -= 1;
        }
        let lf = l as f64;
        let alpha = ((2.0 * lf + 1.0) * (var - lf * (lf + 1.0) / 3.0)
            / (2.0 * ((lf + 1.0) * (lf + 1.0) - var)))
            .clamp(0.0, 1.0);
        BoxKernel {
            l,
            alpha,
            norm: 1.0 / (2.0 * lf + 1.0 + 2.0 * alpha),
        }
    }
}

/// Blurs `data` (`width * height`, row-major) in place with a Gaussian-like kernel of `sigma`
/// (capped at the image's larger side).
pub(super) fn gaussian_like(data: &mut Vec<f32>, width: usize, height: usize, sigma: f32) {
    if width == 0 || height == 0 || sigma.is_nan() || sigma <= 0.0 {
        return;
    }
    // Beyond the image's own size a wider blur only flattens further; the cap bounds the scratch.
    let sigma = (sigma as f64).min(width.max(height) as f64);
    let k = BoxKernel::with_variance(sigma * sigma / 3.0);

    // Horizontal: three passes per row while the row is in cache.
    let pad = k.l + 1;
    let mut line = vec![0.0f32; width + 2 * pad];
    for row in data.chunks_exact_mut(width) {
        // Most rows of a selection are all 0 or all 1; blurring them changes nothing.
        let first = row[0];
        if row.iter().all(|&v| v == first) {
            continue;
        }
        for _ in 0..3 {
            box_line(row, &mut line, k);
        }
    }

    // Vertical: three passes over whole rows, ping-ponging between two buffers.
    let mut other = vec![0.0f32; data.len()];
    let mut acc = vec![0.0f64; width];
    for _ in 0..3 {
        box_columns(data, &mut other, &mut acc, width, height, k);
        std::mem::swap(data, &mut other);
    }
}

/// One horizontal pass over `row`, using `line` (len `row.len() + 2(l+1)`) as padded scratch.
fn box_line(row: &mut [f32], line: &mut [f32], k: BoxKernel) {
    let n = row.len();
    let pad = k.l + 1;
    let (first, last) = (row[0], row[n - 1]);
    line[..pad].fill(first);
    line[pad..pad + n].copy_from_slice(row);
    line[pad + n..].fill(last);
    // Output x is centred on line[x + pad]; the box is line[x + 1 ..= x + 2l + 1].
    let mut sum: f64 = line[1..=2 * k.l + 1].iter().map(|&v| v as f64).sum();
    for (x, out) in row.iter_mut().enumerate() {
        let edges = line[x] as f64 + line[x + 2 * k.l + 2] as f64;
        *out = ((sum + k.alpha * edges) * k.norm) as f32;
        sum += line[x + 2 * k.l + 2] as f64 - line[x + 1] as f64;
    }
}

/// One vertical pass from `src` to `dst`, row-major throughout (a running sum per column).
fn box_columns(
    src: &[f32],
    dst: &mut [f32],
    acc: &mut [f64],
    width: usize,
    height: usize,
    k: BoxKernel,
) {
    let last = height as isize - 1;
    let row = |y: isize| {
        let y = y.clamp(0, last) as usize;
        &src[y * width..(y + 1) * width]
    };
    let l = k.l as isize;
    acc.fill(0.0);
    for j in -l..=l {
        for (a, &v) in acc.iter_mut().zip(row(j)) {
            *a += v as f64;
        }
    }
    for (y, out) in dst.chunks_exact_mut(width).enumerate() {
        let y = y as isize;
        let (above, below) = (row(y - l - 1), row(y + l + 1));
        let leaving = row(y - l);
        for x in 0..width {
            let edges = above[x] as f64 + below[x] as f64;
            out[x] = ((acc[x] + k.alpha * edges) * k.norm) as f32;
            acc[x] += below[x] as f64 - leaving[x] as f64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(v: &[f32]) -> (f64, f64, f64) {
        let mass: f64 = v.iter().map(|&x| x as f64).sum();
        let mean = v
            .iter()
            .enumerate()
            .map(|(i, &x)| i as f64 * x as f64)
            .sum::<f64>()
            / mass;
        let var = v
            .iter()
            .enumerate()
            .map(|(i, &x)| (i as f64 - mean).powi(2) * x as f64)
            .sum::<f64>()
            / mass;
        (mass, mean, var)
    }

    #[test]
    fn the_kernel_has_the_asked_variance_even_for_small_sigmas() {
        for sigma in [0.3f32, 0.5, 1.0, 2.5, 7.0, 20.0] {
            // An impulse in the middle of one long row, and of one tall column.
            let n = 401;
            let mut row = vec![0.0f32; n];
            row[200] = 1.0;
            let mut col = row.clone();
            gaussian_like(&mut row, n, 1, sigma);
            gaussian_like(&mut col, 1, n, sigma);
            for v in [&row, &col] {
                let (mass, mean, var) = moments(v);
                assert!((mass - 1.0).abs() < 1e-5, "sigma {sigma}: mass {mass}");
                assert!((mean - 200.0).abs() < 1e-4, "sigma {sigma}: mean {mean}");
                let want = (sigma * sigma) as f64;
                assert!(
                    (var - want).abs() < 1e-3 * want.max(1.0),
                    "sigma {sigma}: {var} vs {want}"
                );
            }
            assert_eq!(row, col);
        }
    }

    #[test]
    fn uniform_planes_stay_uniform_up_to_the_edges() {
        let mut v = vec![1.0f32; 30 * 20];
        gaussian_like(&mut v, 30, 20, 6.0);
        assert!(v.iter().all(|&x| (x - 1.0).abs() < 1e-6));
    }

    #[test]
    fn huge_sigmas_are_capped_and_finite() {
        let mut v = vec![0.0f32; 16];
        v[3] = 1.0;
        gaussian_like(&mut v, 4, 4, 1e9);
        assert!(v.iter().all(|x| x.is_finite() && *x >= 0.0 && *x <= 1.0));
    }
}
