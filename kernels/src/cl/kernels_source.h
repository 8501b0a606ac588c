// OpenCL C of armbert's own CL kernels: the glue around ACL's functions.
// Built once per process (and kept in ACL's program cache) by kernels.cpp.
// Shapes are run-time arguments, so one build serves every shape. Half data is
// only loaded and stored (vload_half/vstore_half_rte, core OpenCL C) and all
// arithmetic is fp32, so the program builds on devices without cl_khr_fp16.
// FP_CONTRACT is off: the int8 quantization must round exactly like the host's
// and armbert.quant's float32 arithmetic (a*b+c is not fused into an fma).
#pragma once

namespace armbert::opencl {

inline const char *kKernelsSource = R"CLC(
#pragma OPENCL FP_CONTRACT OFF

#define QUANT_GROUP 64

float activate(float v, int act) {
    if (act == 1) return 0.5f * v * (1.0f + erf(v * 0.70710678118654752f));
    if (act == 2) return tanh(v);
    return v;
}

/* Activations are F32 or F16 (is_half); arithmetic is F32 either way. */
float ld(__global const uchar *p, size_t i, int is_half) {
    return is_half ? vload_half(i, (__global const half *)p) : ((__global const float *)p)[i];
}
void st(__global uchar *p, size_t i, float v, int is_half) {
    if (is_half) vstore_half_rte(v, i, (__global half *)p);
    else ((__global float *)p)[i] = v;
}

/* a / b correctly rounded, as C's float division is: OpenCL only promises 2.5 ulp.
 * One Newton step, then the neighbour with the smallest exact residual (fma). */
float div_rn(float a, float b) {
    float q = a / b;
    q = q + fma(-q, b, a) / b;
    float best = q, err = fabs(fma(-q, b, a));
    float up = nextafter(q, INFINITY), dn = nextafter(q, -INFINITY);
    float eu = fabs(fma(-up, b, a)), ed = fabs(fma(-dn, b, a));
    if (eu < err) { best = up; err = eu; }
    if (ed < err) { best = dn; }
    return best;
}

/* dst[r, j] = src[r, j] * scale + mask[r / rows_per_batch, j]; dst is F32.
 * global (S, rows). src may be dst (each item reads then writes its element). */
__kernel void armbert_scale_mask(__global const uchar *src, int src_half, __global float *dst,
                                 __global const float *mask, int has_mask, float scale, int S,
                                 int rows_per_batch) {
    const int j = get_global_id(0), r = get_global_id(1);
    const size_t i = (size_t)r * S + j;
    float v = ld(src, i, src_half) * scale;
    v = v + (has_mask ? mask[(size_t)(r / rows_per_batch) * S + j] : 0.0f);
    dst[i] = v;
}

/* y = act(y), F32, in place. global (n). */
__kernel void armbert_activate(__global float *y, int act) {
    const size_t i = get_global_id(0);
    y[i] = activate(y[i], act);
}

/* dst = a (+ b), with F32/F16 on either side. global (n). */
__kernel void armbert_convert_add(__global const uchar *a, __global const uchar *b, int has_b,
                                  int in_half, __global uchar *dst, int out_half) {
    const size_t i = get_global_id(0);
    float v = ld(a, i, in_half);
    if (has_b) v = v + ld(b, i, in_half);
    st(dst, i, v, out_half);
}

/* qkv [B*S, 3H] -> q, k, v [B*A, S, d] F32. global (d, S, B*A). */
__kernel void armbert_split_heads(__global const uchar *qkv, int in_half, __global float *q,
                                  __global float *k, __global float *v, int S, int H, int A) {
    const int d = H / A;
    const int i = get_global_id(0), s = get_global_id(1), ba = get_global_id(2);
    const int b = ba / A, h = ba % A;
    const size_t src = ((size_t)b * S + s) * 3 * H + (size_t)h * d + i;
    const size_t dst = ((size_t)ba * S + s) * d + i;
    q[dst] = ld(qkv, src, in_half);
    k[dst] = ld(qkv, src + H, in_half);
    v[dst] = ld(qkv, src + 2 * H, in_half);
}

/* ctx [B*A, S, d] F32 -> out [B*S, H]. global (d, S, B*A). */
__kernel void armbert_merge_heads(__global const float *ctx, __global uchar *out, int out_half,
                                  int S, int H, int A) {
    const int d = H / A;
    const int i = get_global_id(0), s = get_global_id(1), ba = get_global_id(2);
    const int b = ba / A, h = ba % A;
    st(out, ((size_t)b * S + s) * H + (size_t)h * d + i, ctx[((size_t)ba * S + s) * d + i],
       out_half);
}

/* Per-row int8 quantization of x [M, K] (armbert.h, linear INT8):
 *   x' = x * inv_smooth (0 for outlier channels), scale = static_scale when > 0,
 *   else max|x'_row| / 127 (1 for all-zero rows); q = clamp(rint(x' * (1/scale)), +-127).
 * Also gathers the outlier channels' fp32 inputs into ox [M, O].
 * One work-group of QUANT_GROUP items per row: global (M * QUANT_GROUP), local (QUANT_GROUP). */
__kernel void armbert_quantize_rows(__global const float *x, int K, __global const float *inv_smooth,
                                    int has_smooth, float static_scale, float static_inv,
                                    __global char *q, __global float *row_scale,
                                    __global const int *outliers, int O, __global float *ox) {
    __local float part[QUANT_GROUP];
    const int m = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    __global const float *xr = x + (size_t)m * K;
    float scale = static_scale, inv = static_inv;
    if (!(scale > 0.0f)) {
        float amax = 0.0f;
        for (int k = lid; k < K; k += L) {
            float v = has_smooth ? xr[k] * inv_smooth[k] : xr[k];
            amax = fmax(amax, fabs(v));
        }
        part[lid] = amax;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int s = L / 2; s > 0; s >>= 1) {
            if (lid < s) part[lid] = fmax(part[lid], part[lid + s]);
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        amax = part[0];
        scale = amax > 0.0f ? fmax(div_rn(amax, 127.0f), FLT_MIN) : 1.0f;  /* common/int8.h */
        inv = div_rn(1.0f, scale);
    }
    __global char *qr = q + (size_t)m * K;
    for (int k = lid; k < K; k += L) {
        float v = has_smooth ? xr[k] * inv_smooth[k] : xr[k];
        float r = clamp(rint(v * inv), -127.0f, 127.0f);
        qr[k] = (char)(int)r;
    }
    if (lid == 0) row_scale[m] = scale;
    for (int j = lid; j < O; j += L) ox[(size_t)m * O + j] = xr[outliers[j]];
}

/* y [M, N] = act(float(acc) * (row_scale[m] * col_scale[n]) + sum_j ox[m, j] ow[n, j] + b[n]),
 * in that order (armbert.h). global (N, M). */
__kernel void armbert_dequantize(__global const int *acc, __global const float *row_scale,
                                 __global const float *col_scale, __global const float *bias,
                                 int has_bias, __global const float *ox, __global const float *ow,
                                 int O, int act, int N, __global float *y) {
    const int n = get_global_id(0), m = get_global_id(1);
    const size_t i = (size_t)m * N + n;
    float v = (float)acc[i] * (row_scale[m] * col_scale[n]);
    if (O > 0) {
        float e = 0.0f;
        for (int j = 0; j < O; ++j) e = e + ox[(size_t)m * O + j] * ow[(size_t)n * O + j];
        v = v + e;
    }
    if (has_bias) v = v + bias[n];
    y[i] = activate(v, act);
}

/* y [M, N] = act(x [M, K] w[N, K]^T + b): F16 storage, F32 accumulation (armbert.h's
 * FP16 linear; ACL's F16 GEMM accumulates in F16). Each item computes a 4x4 tile.
 * global (ceil(N/4), ceil(M/4)). */
__kernel void armbert_linear_f16(__global const half *x, __global const half *w,
                                 __global const float *bias, int has_bias, __global half *y,
                                 int M, int N, int K, int act) {
    const int n0 = get_global_id(0) * 4, m0 = get_global_id(1) * 4;
    if (n0 >= N || m0 >= M) return;
    __global const half *xr[4], *wr[4];
    for (int t = 0; t < 4; ++t) {
        xr[t] = x + (size_t)min(m0 + t, M - 1) * K;
        wr[t] = w + (size_t)min(n0 + t, N - 1) * K;
    }
    float acc[4][4];
    for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 4; ++b) acc[a][b] = 0.0f;
    int k = 0;
    for (; k + 4 <= K; k += 4) {
        float4 xv[4], wv[4];
        for (int t = 0; t < 4; ++t) {
            xv[t] = vload_half4(0, xr[t] + k);
            wv[t] = vload_half4(0, wr[t] + k);
        }
        for (int a = 0; a < 4; ++a)
            for (int b = 0; b < 4; ++b) acc[a][b] += dot(xv[a], wv[b]);
    }
    for (; k < K; ++k) {
        float xs[4], ws[4];
        for (int t = 0; t < 4; ++t) {
            xs[t] = vload_half(k, xr[t]);
            ws[t] = vload_half(k, wr[t]);
        }
        for (int a = 0; a < 4; ++a)
            for (int b = 0; b < 4; ++b) acc[a][b] += xs[a] * ws[b];
    }
    for (int a = 0; a < 4 && m0 + a < M; ++a)
        for (int b = 0; b < 4 && n0 + b < N; ++b) {
            float v = acc[a][b] + (has_bias ? bias[n0 + b] : 0.0f);
            vstore_half_rte(activate(v, act), (size_t)(m0 + a) * N + n0 + b, y);
        }
}
)CLC";

}  // namespace armbert::opencl
