/* decode_attention_wide: the vector version of decode attention (kernels/cpu/decode_attention.c), written
 * once for any vector width and included there once per instruction set — no include guard. Keys go
 * DW_VL to a vector, one per lane (a DW_VL x DW_VL transpose of their rows), so that each lane runs
 * the scalar dot product in its own order; query heads of one KV head with the same view go together
 * (up to DA_MAX_GROUP), reading each K and V row once for all of them.
 *
 * The includer defines the vocabulary, which this file undefines at its end:
 *   DW(name)           the name suffixed for the instruction set; DW_T its target attribute
 *   DW_F, DW_I, DW_VL  float and int vectors, lanes in one
 *   DW_SB(nh), DW_NV(nh)  key vectors a scores pass, value vectors a values pass, for nh heads (as
 *                      many independent accumulators as the registers hold)
 *   dw_load/_loadu/_store/_storeu/_set1/_zero/_fmadd/_mul/_max, dw_reduce_max(v) (float),
 *   dw_iloadu(p), dw_gather(ix, base) (base[ix[i]] in lane i), dw_unpacklo/_unpackhi/_shuffle (within
 *   128-bit lanes), dw_cross_lanes(r, t) (the transpose's steps across 128-bit lanes, from the 4x4
 *   blocks in r, t scratch), dw_exp8_store(e, x) (e[0..8) = expf(x), an __m256). */

/* softmax_probs for NH heads at once (their rows sc[h] of n[h] scores), the max and the exponentials
 * a vector at a time (the same bits: a max is a max, exp8 is expf): the same steps per head, but the
 * double sums, each a chain of adds in key order, run side by side. */
static ALWAYS_INLINE DW_T void DW(softmax_multi)(int NH, float *const *sc, const int *n)
{
    double sum[DA_MAX_GROUP];
    int n_min = n[0];
    #pragma GCC unroll 4
    for (int h = 0; h < NH; h++) {
        float *s = sc[h];
        DW_F mv = dw_set1(-FLT_MAX);
        int j = 0;
        for (; j + DW_VL <= n[h]; j += DW_VL) mv = dw_max(mv, dw_loadu(s + j));
        float m = dw_reduce_max(mv);
        for (; j < n[h]; j++) m = s[j] > m ? s[j] : m;
        const __m256 mm = _mm256_set1_ps(m);
        for (j = 0; j + 8 <= n[h]; j += 8) dw_exp8_store(s + j, _mm256_sub_ps(_mm256_loadu_ps(s + j), mm));
        for (; j < n[h]; j++) s[j] = expf(s[j] - m);
        sum[h] = 0;
        n_min = n[h] < n_min ? n[h] : n_min;
    }
    for (int j = 0; j < n_min; j++)
        #pragma GCC unroll 4
        for (int h = 0; h < NH; h++) sum[h] += sc[h][j];
    #pragma GCC unroll 4
    for (int h = 0; h < NH; h++) {
        float *s = sc[h];
        for (int j = n_min; j < n[h]; j++) sum[h] += s[j];
        const float inv = (float)(1.0 / sum[h]);
        const DW_F vi = dw_set1(inv);
        int j = 0;
        for (; j + DW_VL <= n[h]; j += DW_VL) dw_storeu(s + j, dw_mul(dw_loadu(s + j), vi));
        for (; j < n[h]; j++) s[j] *= inv;
    }
}

/* r[0..DW_VL) transposed in place: afterwards lane i of r[t] is what lane t of r[i] was. The 4x4
 * blocks within 128-bit lanes here, the rest dw_cross_lanes. */
static ALWAYS_INLINE DW_T void DW(transpose)(DW_F r[DW_VL])
{
    DW_F t[DW_VL];
    #pragma GCC unroll 16
    for (int i = 0; i < DW_VL; i += 2) {
        t[i] = dw_unpacklo(r[i], r[i + 1]);     /* a0 b0 a1 b1 per 128-bit lane */
        t[i + 1] = dw_unpackhi(r[i], r[i + 1]); /* a2 b2 a3 b3 */
    }
    #pragma GCC unroll 16
    for (int i = 0; i < DW_VL; i += 4) {
        r[i] = dw_shuffle(t[i], t[i + 2], 0x44);         /* a0 b0 c0 d0 */
        r[i + 1] = dw_shuffle(t[i], t[i + 2], 0xee);     /* a1 b1 c1 d1 */
        r[i + 2] = dw_shuffle(t[i + 1], t[i + 3], 0x44); /* a2 .. d2 */
        r[i + 3] = dw_shuffle(t[i + 1], t[i + 3], 0xee); /* a3 .. d3 */
    }
    dw_cross_lanes(r, t);
}

/* DW_VL key rows of hd floats transposed into kt (hd x DW_VL): element t of rows[i] at kt[t * DW_VL + i]. */
static ALWAYS_INLINE DW_T void DW(transpose_keys)(float *kt, const float *const *rows, int hd)
{
    for (int c = 0; c < hd; c += DW_VL) {
        DW_F v[DW_VL];
        #pragma GCC unroll 16
        for (int i = 0; i < DW_VL; i++) v[i] = dw_loadu(rows[i] + c);
        DW(transpose)(v);
        #pragma GCC unroll 16
        for (int t = 0; t < DW_VL; t++) dw_store(kt + (size_t)(c + t) * DW_VL, v[t]);
    }
}

/* Keys j0 .. j0 + DA_KB - 1 transposed into kt, DA_KB/DW_VL blocks of hd x DW_VL floats: element t of
 * key j0 + DW_VL s + i at kt[(s * hd + t) * DW_VL + i]. Keys past n repeat key n - 1, and blocks wholly
 * past n are left as they were (their scores are not used). */
static DW_T void DW(gather_keys)(float *kt, const da_rows *r, int j0)
{
    for (int s = 0; s < DA_KB / DW_VL && j0 + DW_VL * s < r->n; s++) {
        const float *rows[DW_VL];
        for (int i = 0; i < DW_VL; i++) {
            const int j = j0 + DW_VL * s + i;
            rows[i] = da_key(r, j < r->n ? j : r->n - 1);
        }
        DW(transpose_keys)(kt + (size_t)s * r->hd * DW_VL, rows, r->hd);
    }
}

/* Prompt positions j0 .. j0 + DA_KB - 1 of one KV head (rows of ks floats from kbase, positions past
 * np repeating np - 1), transposed into kt as gather_keys does. */
static DW_T void DW(prefix_keys)(float *kt, const float *kbase, int ks, int hd, int j0, int np)
{
    for (int s = 0; s < DA_KB / DW_VL; s++) {
        const float *rows[DW_VL];
        for (int i = 0; i < DW_VL; i++) {
            const int j = j0 + DW_VL * s + i;
            rows[i] = kbase + (long)(j < np ? j : np - 1) * ks;
        }
        DW(transpose_keys)(kt + (size_t)s * hd * DW_VL, rows, hd);
    }
}

/* acc[h][0 .. nv) = 0 for NH heads. */
static ALWAYS_INLINE DW_T void DW(acc_zero)(int NH, int nv, DW_F acc[][8])
{
    #pragma GCC unroll 16
    for (int h = 0; h < NH; h++)
        #pragma GCC unroll 8
        for (int i = 0; i < nv; i++) acc[h][i] = dw_zero();
}

/* acc[h][i] += a[h][j] * x[i] for NH heads and nv vectors: one step of NH nv chains of fused
 * multiply-adds, each lane's in the scalar loop's order. */
static ALWAYS_INLINE DW_T void DW(acc_step)(int NH, int nv, DW_F acc[][8], const float *const *a, int j,
                                            const DW_F *x)
{
    #pragma GCC unroll 16
    for (int h = 0; h < NH; h++) {
        const DW_F y = dw_set1(a[h][j]);
        #pragma GCC unroll 8
        for (int i = 0; i < nv; i++) acc[h][i] = dw_fmadd(y, x[i], acc[h][i]);
    }
}

/* Scores of keys j0 .. j0 + DA_KB - 1 for NH query heads: each lane the scalar dot product of one
 * key, fused multiply-adds in t order, then times scale; DW_SB(NH) key vectors a pass over t. */
static ALWAYS_INLINE DW_T void DW(scores_block)(int NH, float *const *sc, const float *const *qs, const float *kt,
                                                int hd, int j0, float scale)
{
    const DW_F vs = dw_set1(scale);
    const int SB = DW_SB(NH);
    for (int s0 = 0; s0 < DA_KB / DW_VL; s0 += SB) {
        DW_F acc[DA_MAX_GROUP][8];
        DW(acc_zero)(NH, SB, acc);
        for (int t = 0; t < hd; t++) {
            DW_F k[8];
            #pragma GCC unroll 8
            for (int s = 0; s < SB; s++) k[s] = dw_load(kt + ((size_t)(s0 + s) * hd + t) * DW_VL);
            DW(acc_step)(NH, SB, acc, qs, t, k);
        }
        #pragma GCC unroll 16
        for (int h = 0; h < NH; h++)
            #pragma GCC unroll 8
            for (int s = 0; s < SB; s++) dw_storeu(sc[h] + j0 + DW_VL * (s0 + s), dw_mul(acc[h][s], vs));
    }
}

/* The cache lines of p[0 .. nf) on their way to L1: the value rows a values pass reads lie at kept
 * positions, scattered over the prefix store, and a pass waits on each one's load otherwise. */
static ALWAYS_INLINE DW_T void DW(prefetch)(const float *p, int nf)
{
    for (int i = 0; i < nf; i += 16) _mm_prefetch((const char *)(p + i), _MM_HINT_T0);
    _mm_prefetch((const char *)(p + nf - 1), _MM_HINT_T0);
}

/* o[h][c .. c + DW_VL NV) = Σ_j p[h][j] v_j over every key in order, each V row read once for the NH heads. */
static ALWAYS_INLINE DW_T void DW(values_chunk)(int NH, int NV, float *const *o, const float *const *p,
                                                const da_rows *r, int c)
{
    DW_F acc[DA_MAX_GROUP][8];
    DW(acc_zero)(NH, NV, acc);
    for (int j = 0; j < r->n; j++) {
        const float *v = da_value(r, j) + c;
        if (j + DA_AHEAD < r->n) DW(prefetch)(da_value(r, j + DA_AHEAD) + c, NV * DW_VL);
        DW_F vv[8];
        #pragma GCC unroll 8
        for (int i = 0; i < NV; i++) vv[i] = dw_loadu(v + DW_VL * i);
        DW(acc_step)(NH, NV, acc, p, j, vv);
    }
    #pragma GCC unroll 16
    for (int h = 0; h < NH; h++)
        #pragma GCC unroll 8
        for (int i = 0; i < NV; i++) dw_storeu(o[h] + c + DW_VL * i, acc[h][i]);
}

/* Scores of the np kept prompt positions of NH heads picked from their rows of all prompt scores. */
static ALWAYS_INLINE DW_T void DW(pick_scores)(int NH, float *const *sc, const float *const *dense, const int *pos,
                                               int np)
{
    int j = 0;
    for (; j + DW_VL <= np; j += DW_VL) {
        const DW_I ix = dw_iloadu(pos + j);
        #pragma GCC unroll 16
        for (int h = 0; h < NH; h++) dw_storeu(sc[h] + j, dw_gather(ix, dense[h]));
    }
    for (; j < np; j++)
        for (int h = 0; h < NH; h++) sc[h][j] = dense[h][pos[j]];
}

/* Probabilities of NH heads with n scores each (sc[h]). */
static ALWAYS_INLINE DW_T void DW(softmax_group)(int NH, float *const *sc, int n, int exp_fast)
{
    if (!exp_fast) {
        for (int h = 0; h < NH; h++) softmax_probs(sc[h], n);
        return;
    }
    int ns[DA_MAX_GROUP];
    for (int h = 0; h < NH; h++) ns[h] = n;
    DW(softmax_multi)(NH, sc, ns);
}

/* NH query heads sharing the view r: scores (from dense, the heads' rows of all prompt scores, when
 * non-NULL: then only the tail's keys are read here), probabilities, values. */
static ALWAYS_INLINE DW_T void DW(group_nh)(int NH, float *const *o, const float *const *qs, const da_rows *r,
                                            float scale, float *const *sc, float *kt, int exp_fast,
                                            const float *const *dense, int values)
{
    if (dense) {
        DW(pick_scores)(NH, sc, dense, r->pos, r->np);
        const da_rows tail = {r->sq, r->pos, 0, r->n - r->np, r->off, r->ks, r->hd};
        float *st[DA_MAX_GROUP];
        for (int h = 0; h < NH; h++) st[h] = sc[h] + r->np;
        for (int j0 = 0; j0 < tail.n; j0 += DA_KB) {
            DW(gather_keys)(kt, &tail, j0);
            DW(scores_block)(NH, st, qs, kt, r->hd, j0, scale);
        }
    } else {
        for (int j0 = 0; j0 < r->n; j0 += DA_KB) {
            DW(gather_keys)(kt, r, j0);
            DW(scores_block)(NH, sc, qs, kt, r->hd, j0, scale);
        }
    }
    if (!values) return; /* a head with a view of its own: values_singles takes its softmax too */
    DW(softmax_group)(NH, sc, r->n, exp_fast);
    int c = 0;
    for (; c + DW_NV(NH) * DW_VL <= r->hd; c += DW_NV(NH) * DW_VL)
        DW(values_chunk)(NH, DW_NV(NH), o, (const float *const *)sc, r, c);
    for (; c < r->hd; c += DW_VL) DW(values_chunk)(NH, 1, o, (const float *const *)sc, r, c);
}

/* nh (1 .. DA_MAX_GROUP) query heads with the same view r: outputs o[h], queries qs[h], scores sc[h]. */
static DW_T void DW(attend_group)(int nh, float *const *o, const float *const *qs, const da_rows *r, float scale,
                                  float *const *sc, float *kt, int exp_fast, const float *const *dense)
{
    switch (nh) {
    case 1: DW(group_nh)(1, o, qs, r, scale, sc, kt, exp_fast, dense, 0); break; /* values: values_singles */
    case 2: DW(group_nh)(2, o, qs, r, scale, sc, kt, exp_fast, dense, 1); break;
    case 3: DW(group_nh)(3, o, qs, r, scale, sc, kt, exp_fast, dense, 1); break;
    default: DW(group_nh)(4, o, qs, r, scale, sc, kt, exp_fast, dense, 1); break;
    }
}

/* o[g][c .. c + DW_VL NV) = Σ_j p[g][j] v_j for NG query heads with views of their own (r[g]), each in
 * its own key order as values_chunk takes it: one head alone is a chain of adds waiting on each other,
 * so heads go side by side over their common length, then each finishes alone. */
static ALWAYS_INLINE DW_T void DW(values_multi)(int NG, int NV, float *const *o, const float *const *p,
                                                const da_rows *const *r, int c)
{
    DW_F acc[DA_MAX_GROUP][8];
    int n_min = r[0]->n;
    #pragma GCC unroll 16
    for (int g = 0; g < NG; g++) {
        n_min = r[g]->n < n_min ? r[g]->n : n_min;
        #pragma GCC unroll 8
        for (int i = 0; i < NV; i++) acc[g][i] = dw_zero();
    }
    for (int j = 0; j < n_min; j++) {
        #pragma GCC unroll 16
        for (int g = 0; g < NG; g++) {
            const float *v = da_value(r[g], j) + c;
            if (j + DA_AHEAD < n_min) DW(prefetch)(da_value(r[g], j + DA_AHEAD) + c, NV * DW_VL);
            const DW_F x = dw_set1(p[g][j]);
            #pragma GCC unroll 8
            for (int i = 0; i < NV; i++) acc[g][i] = dw_fmadd(x, dw_loadu(v + DW_VL * i), acc[g][i]);
        }
    }
    #pragma GCC unroll 16
    for (int g = 0; g < NG; g++) {
        for (int j = n_min; j < r[g]->n; j++) {
            const float *v = da_value(r[g], j) + c;
            const DW_F x = dw_set1(p[g][j]);
            #pragma GCC unroll 8
            for (int i = 0; i < NV; i++) acc[g][i] = dw_fmadd(x, dw_loadu(v + DW_VL * i), acc[g][i]);
        }
        #pragma GCC unroll 8
        for (int i = 0; i < NV; i++) dw_storeu(o[g] + c + DW_VL * i, acc[g][i]);
    }
}

static ALWAYS_INLINE DW_T void DW(singles_ng)(int NG, float *const *o, float *const *p, const da_rows *const *r,
                                              int exp_fast)
{
    int n[DA_MAX_GROUP];
    for (int g = 0; g < NG; g++) {
        n[g] = r[g]->n;
        if (!exp_fast) softmax_probs(p[g], n[g]);
    }
    if (exp_fast) DW(softmax_multi)(NG, p, n);
    const int hd = r[0]->hd;
    int c = 0;
    for (; c + DW_NV(NG) * DW_VL <= hd; c += DW_NV(NG) * DW_VL)
        DW(values_multi)(NG, DW_NV(NG), o, (const float *const *)p, r, c);
    for (; c < hd; c += DW_VL) DW(values_multi)(NG, 1, o, (const float *const *)p, r, c);
}

/* The softmax and values of ng (1 .. DA_MAX_GROUP) query heads whose scores p[g] over views r[g] are
 * done (turned into probabilities in place). */
static DW_T void DW(values_singles)(int ng, float *const *o, float *const *p, const da_rows *r, int exp_fast)
{
    const da_rows *rs[DA_MAX_GROUP];
    for (int g = 0; g < ng; g++) rs[g] = &r[g];
    switch (ng) {
    case 1: DW(singles_ng)(1, o, p, rs, exp_fast); break;
    case 2: DW(singles_ng)(2, o, p, rs, exp_fast); break;
    case 3: DW(singles_ng)(3, o, p, rs, exp_fast); break;
    default: DW(singles_ng)(4, o, p, rs, exp_fast); break;
    }
}

/* Scores of prompt positions j0 .. j0 + DA_KB - 1 (their keys transposed in kt) for the nq query
 * heads qs[], into their dense rows, DA_MAX_GROUP heads at a time. */
static DW_T void DW(dense_block)(int nq, float *const *rows, const float *const *qs, const float *kt, int hd, int j0,
                                 float scale)
{
    for (int i = 0; i < nq; i += DA_MAX_GROUP) {
        switch (nq - i < DA_MAX_GROUP ? nq - i : DA_MAX_GROUP) {
        case 1: DW(scores_block)(1, rows + i, qs + i, kt, hd, j0, scale); break;
        case 2: DW(scores_block)(2, rows + i, qs + i, kt, hd, j0, scale); break;
        case 3: DW(scores_block)(3, rows + i, qs + i, kt, hd, j0, scale); break;
        default: DW(scores_block)(4, rows + i, qs + i, kt, hd, j0, scale); break;
        }
    }
}

/* Work item it of the plan: the scores of its DA_KB prompt positions for all the set's dense heads. */
static DW_T void DW(dense_item)(const da_dense_plan *pl, int it, float *kt, int ks, int hd, float scale)
{
    const da_dense_set *st = &pl->set[pl->item_set[it]];
    const int j0 = pl->item_j0[it];
    DW(prefix_keys)(kt, st->kbase, ks, hd, j0, st->np);
    DW(dense_block)(st->count, pl->row + st->first, pl->q + st->first, kt, hd, j0, scale);
}

/* The query heads h0 .. h0 + n_rep - 1 of one KV head: heads whose views coincide in groups of up to
 * DA_MAX_GROUP, each group reading its keys and values once. */
static void DW(attend_kv_head)(float *out, const float *q, const decode_seq *sq, int h0, int n_rep, int hd, int ks,
                               float scale, float *sc, size_t sc_n, float *kt, int exp_fast, const da_dense_plan *pl,
                               const int *row_of, const int *same_as)
{
    unsigned long long taken = 0;
    /* heads with views of their own: probabilities in sc slots DA_MAX_GROUP + k, values side by side */
    float *so[DA_MAX_GROUP], *sp[DA_MAX_GROUP];
    da_rows sr[DA_MAX_GROUP];
    int ns = 0;
    for (int i = 0; i < n_rep; i++) {
        if (taken >> i & 1) continue;
        float *o[DA_MAX_GROUP], *s[DA_MAX_GROUP];
        const float *qs[DA_MAX_GROUP], *dn[DA_MAX_GROUP];
        int nh = 0;
        for (int k = i; k < n_rep && nh < DA_MAX_GROUP; k++) {
            if (taken >> k & 1 || same_as[h0 + k] != same_as[h0 + i]) continue;
            taken |= 1ull << k;
            o[nh] = out + (long)(h0 + k) * hd, qs[nh] = q + (long)(h0 + k) * hd, s[nh] = sc + nh * sc_n;
            dn[nh] = row_of[h0 + k] >= 0 ? pl->row[row_of[h0 + k]] : NULL;
            nh++;
        }
        const int h = h0 + i;
        const da_rows r = {sq, sq->pos + (long)h * sq->cap, sq->len[h], sq->len[h] + decode_seq_tail(sq),
                           (h0 / n_rep) * hd, ks, hd};
        if (nh == 1) s[0] = sc + (DA_MAX_GROUP + ns) * sc_n;
        DW(attend_group)(nh, o, qs, &r, scale, s, kt, exp_fast, dn[0] ? dn : NULL);
        if (nh > 1) continue;
        so[ns] = o[0], sp[ns] = s[0], sr[ns++] = r;
        if (ns == DA_MAX_GROUP) DW(values_singles)(ns, so, sp, sr, exp_fast), ns = 0;
    }
    if (ns) DW(values_singles)(ns, so, sp, sr, exp_fast);
}

static const da_wide DW(da_wide) = {DW_VL, DW(dense_item), DW(attend_kv_head)};

#undef DW
#undef DW_T
#undef DW_F
#undef DW_I
#undef DW_VL
#undef DW_SB
#undef DW_NV
#undef dw_load
#undef dw_loadu
#undef dw_store
#undef dw_storeu
#undef dw_set1
#undef dw_zero
#undef dw_fmadd
#undef dw_mul
#undef dw_max
#undef dw_reduce_max
#undef dw_iloadu
#undef dw_gather
#undef dw_unpacklo
#undef dw_unpackhi
#undef dw_shuffle
#undef dw_cross_lanes
#undef dw_exp8_store
