/* The stacked VAE step's element-wise passes, each as one loop (genlib/native.py compiles and loads this).

   In genlib.batched each of these is a handful of tensor operations over small tensors: at the annealing lab's
   size a step spends as long dispatching and re-reading them as on their arithmetic, and this torch build's
   exp and log run one element at a time. Each function here is one pass of plain loops the compiler
   vectorises, over float32 arrays laid out as the tensors are (row-major; d_z and the ReLU gradient may be
   strided views). NaN and infinity propagate as they do through torch's kernels, so a run whose loss is not
   finite stops as it would. */

#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x: Cephes' expf (a degree-5 polynomial after taking out 2^n; within 2 ulp), written so that loops of it
   vectorise. Below -87.3 it gives 0 (torch's exp gives a denormal there, 0 where they are flushed, as the
   stack trains); above ln(FLT_MAX) = 88.72 infinity; NaN stays NaN. The split of n ln 2 in two parts needs the compiler to
   keep the order of the sums (no -fassociative-math). */
static inline float exp_f(float x_in) {
    float x = x_in < -87.3f ? -87.3f : x_in;
    x = x > 88.8f ? 88.8f : x;
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float g = x - n * 0.693359375f + n * 2.12194440e-4f;
    float y = 1.9875691500e-4f;
    y = y * g + 1.3981999507e-3f;
    y = y * g + 8.3334519073e-3f;
    y = y * g + 4.1665795894e-2f;
    y = y * g + 1.6666665459e-1f;
    y = y * g + 5.0000001201e-1f;
    y = y * g * g + g + 1.0f;
    int32_t whole = (int32_t)n, top = whole > 127; /* 2^128 is past float32: 2^127, then twice */
    int32_t bits = (whole - top + 127) * (1 << 23);
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    float e = y * two_n;
    e = top ? e * 2.0f : e;
    return x_in < -87.3f ? 0.0f : (x_in > 88.7228391f ? INFINITY : e);
}

#define LANES 8 /* sums and products in LANES partial results, which the compiler keeps in one vector */

static inline float lane_sum(const float *v, int64_t m) {
    float acc[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= m; j += LANES)
        for (int k = 0; k < LANES; k++)
            acc[k] += v[j + k];
    for (; j < m; j++)
        acc[0] += v[j];
    float total = 0.0f;
    for (int k = 0; k < LANES; k++)
        total += acc[k];
    return total;
}

static inline float lane_product(const float *v, int64_t m) {
    float acc[LANES] = {1, 1, 1, 1, 1, 1, 1, 1};
    int64_t j = 0;
    for (; j + LANES <= m; j += LANES)
        for (int k = 0; k < LANES; k++)
            acc[k] *= v[j + k];
    for (; j < m; j++)
        acc[0] *= v[j];
    float total = 1.0f;
    for (int k = 0; k < LANES; k++)
        total *= acc[k];
    return total;
}

#define BLOCK 64 /* values whose (1 + e^-|l|) are multiplied before one log: at most 2^64, far from overflow */

/* -log p(x | z) of Bernoulli logits l, rows x n, against x (row r reads x's row r % x_rows: the runs share the
   batch): recon[r] = sum_j max(l, 0) - x l + log(1 + e^-|l|), as torch's binary_cross_entropy_with_logits
   computes each value; grad = (sigmoid(l) - x) * scale. */
void bernoulli_nll(const float *restrict l, const float *restrict x, float *restrict recon,
                   float *restrict grad, int64_t rows, int64_t x_rows, int64_t n, float scale) {
    float one_plus[BLOCK], linear[BLOCK];
    for (int64_t r = 0; r < rows; r++) {
        const float *lr = l + r * n, *xr = x + (r % x_rows) * n;
        float *gr = grad + r * n;
        float total = 0.0f;
        for (int64_t start = 0; start < n; start += BLOCK) {
            int64_t m = n - start < BLOCK ? n - start : BLOCK;
            for (int64_t j = 0; j < m; j++) {
                float v = lr[start + j], xv = xr[start + j];
                float e = exp_f(-fabsf(v));
                float d = 1.0f + e;
                linear[j] = (v > 0.0f ? v : 0.0f) - xv * v;
                one_plus[j] = d;
                gr[start + j] = ((v >= 0.0f ? 1.0f : e) / d - xv) * scale;
            }
            total += lane_sum(linear, m) + logf(lane_product(one_plus, m));
        }
        recon[r] = total;
    }
}

/* z = mu + sigma eps, sigma = exp(logvar / 2), for R runs: h (R, B, 2D) holds (mu, logvar) per example, eps
   (B, D) is shared; z and sigma are (R, B, D). */
void reparameterize(const float *restrict h, const float *restrict eps, float *restrict z, float *restrict sigma,
                    int64_t runs, int64_t batch, int64_t dim) {
    for (int64_t rb = 0; rb < runs * batch; rb++) {
        const float *mu = h + rb * 2 * dim, *logvar = mu + dim, *e = eps + (rb % batch) * dim;
        for (int64_t j = 0; j < dim; j++) {
            float s = exp_f(0.5f * logvar[j]);
            sigma[rb * dim + j] = s;
            z[rb * dim + j] = mu[j] + s * e[j];
        }
    }
}

/* The KL term of R runs and its gradient, after the decoder's backward pass gave d_z = dL/dz (R, B, D, strides
   in elements). Per run r, with beta[r] and free bits lam[r] (a dimension counts where its batch-mean KL
   exceeds lam, or where lam <= 0; the others sit at lam with no gradient), from recon (R, B):
   kl_per_dim (R, B, D), kl and elbo (R, B), loss (R) the batch mean of recon + beta * (free-bits KL), and
   d_h (R, B, 2D) = dL/d(mu, logvar) of the runs' summed loss. dim is at most 4096. */
void gaussian_kl_step(const float *restrict h, const float *restrict sigma, const float *restrict eps,
                      const float *restrict d_z, int64_t dz_run, int64_t dz_row, int64_t dz_col,
                      const float *restrict beta, const float *restrict lam, const float *restrict recon,
                      float *restrict kl_per_dim, float *restrict kl, float *restrict elbo, float *restrict loss,
                      float *restrict d_h, int64_t runs, int64_t batch, int64_t dim) {
    float column[4096], weight[4096];
    char counts[4096];
    for (int64_t r = 0; r < runs; r++) {
        for (int64_t j = 0; j < dim; j++)
            column[j] = 0.0f;
        for (int64_t b = 0; b < batch; b++) {
            int64_t rb = r * batch + b;
            const float *mu = h + rb * 2 * dim, *logvar = mu + dim, *s = sigma + rb * dim;
            float *k = kl_per_dim + rb * dim;
            float total = 0.0f;
            for (int64_t j = 0; j < dim; j++) {
                k[j] = 0.5f * (mu[j] * mu[j] + s[j] * s[j] - 1.0f - logvar[j]);
                column[j] += k[j];
                total += k[j];
            }
            kl[rb] = total;
        }
        float br = beta[r], lr = lam[r], sum = 0.0f;
        for (int64_t j = 0; j < dim; j++) {
            counts[j] = column[j] / (float)batch > lr || lr <= 0.0f;
            weight[j] = counts[j] ? br / (float)batch : 0.0f;
        }
        for (int64_t b = 0; b < batch; b++) {
            int64_t rb = r * batch + b;
            const float *mu = h + rb * 2 * dim, *s = sigma + rb * dim, *k = kl_per_dim + rb * dim;
            const float *e = eps + b * dim, *dz = d_z + r * dz_run + b * dz_row;
            float *d_mu = d_h + rb * 2 * dim, *d_logvar = d_mu + dim;
            float reg = 0.0f;
            for (int64_t j = 0; j < dim; j++) {
                float var = s[j] * s[j], g = dz[j * dz_col];
                reg += counts[j] ? k[j] : lr;
                d_mu[j] = g + weight[j] * mu[j];
                d_logvar[j] = 0.5f * (g * e[j] * s[j] + weight[j] * (var - 1.0f));
            }
            sum += recon[rb] + br * reg;
            elbo[rb] = -(recon[rb] + kl[rb]);
        }
        loss[r] = sum / (float)batch;
    }
}

/* The gradient through a ReLU, in place, and the bias gradient of the layer before it: d (R, B, H, strides in
   elements) becomes 0 where the ReLU's output out (R, B, H, contiguous) is <= 0 (torch's threshold_backward),
   and bias_grad (R, H) = the sum over the batch of the result. */
void relu_backward_bias(float *restrict d, int64_t d_run, int64_t d_row, int64_t d_col, const float *restrict out,
                        float *restrict bias_grad, int64_t runs, int64_t batch, int64_t width) {
    for (int64_t r = 0; r < runs; r++) {
        float *bg = bias_grad + r * width;
        for (int64_t j = 0; j < width; j++)
            bg[j] = 0.0f;
        for (int64_t b = 0; b < batch; b++) {
            float *dr = d + r * d_run + b * d_row;
            const float *o = out + (r * batch + b) * width;
            if (d_col == 1) {
                for (int64_t j = 0; j < width; j++) {
                    float g = o[j] <= 0.0f ? 0.0f : dr[j];
                    dr[j] = g;
                    bg[j] += g;
                }
            } else {
                for (int64_t j = 0; j < width; j++) {
                    float g = o[j] <= 0.0f ? 0.0f : dr[j * d_col];
                    dr[j * d_col] = g;
                    bg[j] += g;
                }
            }
        }
    }
}
