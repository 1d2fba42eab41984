// How attention_spans works:
//  - plan (calling thread): consecutive queries are grouped into blocks (up to 4 / heads per
//    tile) whose key sets overlap enough; each block's keys are cut into segments on which every
//    query's membership and visual flag are constant. Blocks are grouped into ranges of about
//    equal cost, and per range the union of the keys each kind of head chunk reads is formed.
//  - work items (OpenMP, dynamic): one range x one head chunk (heads sharing a KV head). The
//    item copies its keys' K and V rows into contiguous per-thread buffers when they are reused
//    enough, then runs its tiles (block x head chunk): scores for the union of the tile's
//    segments, per-row masked softmax (Dead: visual weights zeroed after normalizing), and the
//    weighted sum of V over the segments some row uses. Items go range by range so that the
//    heads of a range share the pages of its rows of q, out, K and V.
#include "ops/span_attention.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.h"
#include "ops/activations.h"

// The SIMD kernels carry target attributes (rather than relying on -march) so that every build,
// the sanitizer one included, runs and checks them; the CPU is probed at run time.
#define YOPO_SPAN_AVX2 __attribute__((target("avx2,fma")))
#define YOPO_SPAN_AVX512 __attribute__((target("avx512f,avx2,fma")))

namespace yopo::ops {

namespace {

// A work item ("tile") holds up to kMaxRows (query, head) rows that share one KV head: several
// consecutive queries of one head, several heads of one query (GQA), or both. Its rows share
// the loads of K and V over the union of their spans; each row masks the keys it does not use.
constexpr int kMaxRows = 4;
// A query joins its predecessors' block while (union of their keys) * (queries) stays within
// this factor of the keys they attend themselves: beyond it, the masked products cost more than
// the shared loads save.
constexpr double kMaxWaste = 1.25;
// Work is handed to threads as items of consecutive blocks of one head chunk, about this many
// items per thread (split by cost) to keep threads balanced when queries differ in length.
constexpr int64_t kItemsPerThread = 16;
// The K and V rows of one KV head sit ldkv floats apart, all at the same offset within their
// pages: they compete for a small fraction of the cache sets, and a head's rows cannot stay
// cached between the queries that reuse them. An item whose keys are read at least
// kPackReuse times on average therefore first copies its keys' K and V rows into contiguous
// per-thread buffers (at most kPackBytes per thread; larger items run on the cache rows).
constexpr double kPackReuse = 3.0;
constexpr size_t kPackBytes = size_t(8) << 20;
// Items are also cut so that their packed rows stay within about half an L2 cache (where the
// keys of their first block allow it: a query may attend more than that on its own), so that
// the packed rows are still cached when the item's tiles read them.
constexpr size_t kPackSoftBytes = size_t(512) << 10;
constexpr double kPackGrowth = 1.25;
// Rows ahead that pack_range asks for.
constexpr int64_t kPackAhead = 4;

// A run of keys on which, for every query of a block, membership and the visual flag are
// constant. Bit b of member / visual is about the block's query b.
struct Segment {
  int32_t begin, end;
  uint8_t member, visual;
};

struct Block {
  int64_t q0, nq;      // queries [q0, q0 + nq)
  int64_t seg0, nseg;  // its segments in Plan::segs
  int64_t width;       // keys in its segments
};

// Cache rows [begin, end) of a range, copied to packed rows [pos, pos + end - begin).
struct Interval {
  int32_t begin, end;
  int64_t pos;
};

// Which keys of a range a head chunk reads, by the modes of its heads: any Live head: all
// keys of all queries; else any Dead head: all keys of the non-visual queries (visual queries
// are skipped); else (all Excluded): the non-visual keys of the non-visual queries.
enum Flavor { kAllKeys, kTextQueries, kTextKeys, kFlavors };

// The union of the keys a flavor reads in a range: intervals [iv0, iv0 + niv) of Plan::ivs.
struct KeyUnion {
  int64_t iv0 = 0, niv = 0;
  int64_t keys = 0;
  bool packed = false;
};

// Blocks [b0, b1) and, per flavor in use, the union of the keys read.
struct Range {
  int64_t b0, b1;
  KeyUnion keys[kFlavors];
};

struct Plan {
  std::vector<Block> blocks;
  std::vector<Segment> segs;
  std::vector<Range> ranges;
  std::vector<Interval> ivs;
  std::vector<Segment> best, cand;  // block building scratch
  std::vector<Interval> cur, next;  // range building scratch
  std::vector<int32_t> points;
  std::vector<uint8_t> text_queries;  // per block: bits of its non-visual queries
  int64_t max_width = 0, max_segs = 0, max_packed_keys = 0;
};

// Keys [key, key + len) whose scores sit at positions [pos, pos + len) of a row's score buffer.
struct Run {
  int64_t key, pos, len;
};

// Per segment of a tile: its score position (when any row needs its scores) and, bit per row,
// which rows need its scores and which its values.
struct SegUse {
  int32_t pos;
  uint8_t need_s, need_v;
};

struct Tile {
  int n = 0;
  const float* q[kMaxRows];
  float* out[kMaxRows];
};

enum class Isa { Scalar, Avx2, Avx512 };

VisualKeys mode_of(const SpanAttentionArgs& a, int64_t h) {
  return a.head_mode ? a.head_mode[h] : VisualKeys::Live;
}

// Throws on anything attention_spans could not run on safely.
void validate(const SpanAttentionArgs& a, const char* who) {
  const AttentionShape& s = a.shape;
  const int64_t H = s.n_heads, KVH = s.n_kv_heads, d = s.head_dim;
  check(H > 0 && KVH > 0 && d > 0 && H % KVH == 0, who, ": bad head shape (", H, " heads, ", KVH,
        " KV heads, head_dim ", d, "); heads must be a positive multiple of KV heads");
  check(a.n_q >= 0, who, ": negative query count ", a.n_q);
  check(a.ldq >= H * d && a.ldo >= H * d, who, ": query/output row strides ", a.ldq, ", ", a.ldo,
        " are below ", H, " x ", d);
  check(a.ldkv >= KVH * d, who, ": KV row stride ", a.ldkv, " is below ", KVH, " x ", d);
  if (a.n_q == 0) return;
  check(a.span_offsets != nullptr && a.spans != nullptr, who, ": null span_offsets or spans");
  if (a.head_mode) {
    for (int64_t h = 0; h < H; ++h)
      check(uint8_t(a.head_mode[h]) <= uint8_t(VisualKeys::Excluded), who, ": head ", h,
            " has an invalid visual-key mode ", int(a.head_mode[h]));
  }
  for (int64_t i = 0; i < a.n_q; ++i) {
    const int64_t o0 = a.span_offsets[i], o1 = a.span_offsets[i + 1];
    check(o0 >= 0 && o1 > o0, who, ": query ", i, " has no spans (span_offsets ", o0, ", ", o1,
          ")");
    int64_t keys = 0, prev_end = 0;
    for (int64_t t = o0; t < o1; ++t) {
      const KeySpan& sp = a.spans[t];
      check(sp.begin >= 0 && sp.begin <= sp.end, who, ": query ", i, " has an invalid span [",
            sp.begin, ", ", sp.end, ")");
      check(t == o0 || sp.begin >= prev_end, who, ": spans of query ", i,
            " are not sorted and disjoint (span [", sp.begin, ", ", sp.end,
            ") starts before the previous end ", prev_end, ")");
      check(a.n_kv < 0 || sp.end <= a.n_kv, who, ": span [", sp.begin, ", ", sp.end, ") of query ",
            i, " reaches past the ", a.n_kv, " cache rows");
      keys += sp.end - sp.begin;
      prev_end = sp.end;
    }
    check(keys > 0, who, ": query ", i, " attends no keys (all its spans are empty)");
  }
}

int64_t query_keys(const SpanAttentionArgs& a, int64_t i, int64_t* text = nullptr) {
  int64_t all = 0, txt = 0;
  for (int64_t t = a.span_offsets[i]; t < a.span_offsets[i + 1]; ++t) {
    const int64_t n = a.spans[t].end - a.spans[t].begin;
    all += n;
    if (!a.spans[t].visual) txt += n;
  }
  if (text) *text = txt;
  return all;
}

// The segments of queries [q0, q0 + n) into out (keys no query attends left out), cut at every
// span boundary; returns their total width.
int64_t block_segments(const SpanAttentionArgs& a, int64_t q0, int n, std::vector<int32_t>& pts,
                       std::vector<Segment>& out) {
  pts.clear();
  out.clear();
  for (int b = 0; b < n; ++b) {
    for (int64_t t = a.span_offsets[q0 + b]; t < a.span_offsets[q0 + b + 1]; ++t) {
      if (a.spans[t].begin < a.spans[t].end) {
        pts.push_back(a.spans[t].begin);
        pts.push_back(a.spans[t].end);
      }
    }
  }
  std::sort(pts.begin(), pts.end());
  pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
  int64_t cur[kMaxRows];
  for (int b = 0; b < n; ++b) cur[b] = a.span_offsets[q0 + b];
  int64_t width = 0;
  for (size_t p = 0; p + 1 < pts.size(); ++p) {
    const int32_t lo = pts[p], hi = pts[p + 1];
    uint8_t member = 0, visual = 0;
    for (int b = 0; b < n; ++b) {
      const int64_t end = a.span_offsets[q0 + b + 1];
      int64_t& c = cur[b];
      while (c < end && a.spans[c].end <= lo) ++c;
      if (c < end && a.spans[c].begin <= lo) {
        member |= uint8_t(1u << b);
        if (a.spans[c].visual) visual |= uint8_t(1u << b);
      }
    }
    if (!member) continue;
    if (!out.empty() && out.back().end == lo && out.back().member == member &&
        out.back().visual == visual) {
      out.back().end = hi;
    } else {
      out.push_back({lo, hi, member, visual});
    }
    width += hi - lo;
  }
  return width;
}

// Groups consecutive queries into blocks of at most max_nq (see kMaxWaste).
void build_plan(const SpanAttentionArgs& a, int max_nq, Plan& p) {
  p.blocks.clear();
  p.segs.clear();
  p.text_queries.clear();
  p.max_width = p.max_segs = 0;
  for (int64_t q0 = 0; q0 < a.n_q;) {
    int n = 1;
    int64_t width = block_segments(a, q0, 1, p.points, p.best);
    double own = double(query_keys(a, q0));
    while (n < max_nq && q0 + n < a.n_q) {
      const double own2 = own + double(query_keys(a, q0 + n));
      const int64_t width2 = block_segments(a, q0, n + 1, p.points, p.cand);
      if (double(width2) * double(n + 1) > kMaxWaste * own2) break;
      std::swap(p.best, p.cand);
      width = width2;
      own = own2;
      ++n;
    }
    uint8_t text = 0;
    for (int b = 0; b < n; ++b)
      if (!(a.visual_query && a.visual_query[q0 + b])) text |= uint8_t(1u << b);
    p.text_queries.push_back(text);
    p.blocks.push_back({q0, n, int64_t(p.segs.size()), int64_t(p.best.size()), width});
    p.segs.insert(p.segs.end(), p.best.begin(), p.best.end());
    p.max_width = std::max(p.max_width, width);
    p.max_segs = std::max(p.max_segs, int64_t(p.best.size()));
    q0 += n;
  }
}

// Whether a flavor reads a segment of a block whose non-visual queries are `text`.
bool flavor_reads(Flavor f, const Segment& sg, uint8_t text) {
  switch (f) {
    case kAllKeys:
      return sg.member != 0;
    case kTextQueries:
      return (sg.member & text) != 0;
    default:
      return (sg.member & ~sg.visual & text) != 0;
  }
}

// out = the union of the sorted disjoint intervals `a` and the segments s[0, n) that flavor f
// reads, merged where they touch; returns its key count. *read: keys of s it reads.
int64_t merge_keys(const std::vector<Interval>& a, const Segment* s, int64_t n, Flavor f,
                   uint8_t text, std::vector<Interval>& out, int64_t* read) {
  out.clear();
  size_t i = 0;
  int64_t j = 0, keys = 0;
  *read = 0;
  while (true) {
    while (j < n && !flavor_reads(f, s[j], text)) ++j;
    if (i == a.size() && j == n) break;
    Interval x;
    if (j == n || (i < a.size() && a[i].begin <= s[j].begin)) {
      x = a[i++];
    } else {
      x = {s[j].begin, s[j].end, 0};
      *read += s[j].end - s[j].begin;
      ++j;
    }
    if (!out.empty() && x.begin <= out.back().end) {
      if (x.end > out.back().end) {
        keys += x.end - out.back().end;
        out.back().end = x.end;
      }
    } else {
      out.push_back(x);
      keys += x.end - x.begin;
    }
  }
  return keys;
}

// Splits the blocks into about `wanted` ranges of equal cost (keys x queries), cutting earlier
// where the union of their keys would outgrow the packing limits; then, per flavor in use, the
// union of the keys read and whether to pack them.
void build_ranges(Plan& p, int64_t wanted, int64_t row_bytes, const bool (&used)[kFlavors]) {
  p.ranges.clear();
  p.ivs.clear();
  p.max_packed_keys = 0;
  double total = 0;
  for (const Block& b : p.blocks) total += double(b.width * b.nq);
  const double target = total / double(wanted);
  const int64_t max_keys = int64_t(kPackBytes / size_t(row_bytes));
  const int64_t soft_keys = int64_t(kPackSoftBytes / size_t(row_bytes));
  const int64_t n_blocks = int64_t(p.blocks.size());
  int64_t read = 0;
  int64_t b0 = 0;
  while (b0 < n_blocks) {
    // The extent, by the union of all keys.
    p.cur.clear();
    int64_t b1 = b0, first_keys = 0;
    double cost = 0;
    while (b1 < n_blocks) {
      const Block& B = p.blocks[size_t(b1)];
      const double c = double(B.width * B.nq);
      if (b1 > b0 && cost + c > target * 1.0001) break;
      const int64_t k2 =
          merge_keys(p.cur, p.segs.data() + B.seg0, B.nseg, kAllKeys, 0xFF, p.next, &read);
      if (b1 > b0 &&
          (k2 > max_keys || k2 > std::max<int64_t>(soft_keys, int64_t(kPackGrowth * first_keys))))
        break;
      if (b1 == b0) first_keys = k2;
      std::swap(p.cur, p.next);
      cost += c;
      ++b1;
    }
    Range R{b0, b1, {}};
    for (int f = 0; f < kFlavors; ++f) {
      if (!used[f]) continue;
      p.cur.clear();
      int64_t keys = 0;
      double reads = 0;
      for (int64_t b = b0; b < b1; ++b) {
        const Block& B = p.blocks[size_t(b)];
        keys = merge_keys(p.cur, p.segs.data() + B.seg0, B.nseg, Flavor(f),
                          p.text_queries[size_t(b)], p.next, &read);
        std::swap(p.cur, p.next);
        reads += double(read);
      }
      KeyUnion& u = R.keys[f];
      u.iv0 = int64_t(p.ivs.size());
      u.niv = int64_t(p.cur.size());
      u.keys = keys;
      u.packed = keys > 0 && keys <= max_keys && reads >= kPackReuse * double(keys);
      int64_t pos = 0;
      for (Interval& iv : p.cur) {
        iv.pos = pos;
        pos += iv.end - iv.begin;
      }
      p.ivs.insert(p.ivs.end(), p.cur.begin(), p.cur.end());
      if (u.packed) p.max_packed_keys = std::max(p.max_packed_keys, keys);
    }
    p.ranges.push_back(R);
    b0 = b1;
  }
}

// ---------------------------------------------------------------------------------------------
// Scalar kernels (CPUs without AVX2).

void scores_scalar(const Tile& t, const float* k, int64_t ldkv, int64_t d, float scale,
                   const Run* runs, int nruns, float* s, int64_t stride) {
  for (int u = 0; u < nruns; ++u) {
    for (int64_t j = 0; j < runs[u].len; ++j) {
      const float* kj = k + (runs[u].key + j) * ldkv;
      for (int r = 0; r < t.n; ++r) {
        float acc = 0.0f;
        for (int64_t i = 0; i < d; ++i) acc += t.q[r][i] * kj[i];
        s[r * stride + runs[u].pos + j] = acc * scale;
      }
    }
  }
}

void values_scalar(const Tile& t, const float* p, int64_t stride, const float* v, int64_t ldkv,
                   int64_t d, const Run* runs, int nruns) {
  for (int r = 0; r < t.n; ++r) {
    float* o = t.out[r];
    std::fill(o, o + d, 0.0f);
    for (int u = 0; u < nruns; ++u) {
      for (int64_t j = 0; j < runs[u].len; ++j) {
        const float w = p[r * stride + runs[u].pos + j];
        const float* vj = v + (runs[u].key + j) * ldkv;
        for (int64_t i = 0; i < d; ++i) o[i] += w * vj[i];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// AVX2 kernels.

YOPO_SPAN_AVX2 inline float hsum8(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

// res[i] = sum of the lanes of a[i], i < N: eight or four at a time by pairwise horizontal adds.
template <int N>
YOPO_SPAN_AVX2 inline void reduce_avx2(const __m256* a, float* res) {
  int i = 0;
  for (; i + 8 <= N; i += 8) {
    // hadd(hadd(a0, a1), hadd(a2, a3)) holds the half sums of a0..a3 in each 128-bit lane.
    const __m256 u0 =
        _mm256_hadd_ps(_mm256_hadd_ps(a[i], a[i + 1]), _mm256_hadd_ps(a[i + 2], a[i + 3]));
    const __m256 u1 =
        _mm256_hadd_ps(_mm256_hadd_ps(a[i + 4], a[i + 5]), _mm256_hadd_ps(a[i + 6], a[i + 7]));
    _mm256_storeu_ps(res + i, _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                                            _mm256_permute2f128_ps(u0, u1, 0x31)));
  }
  for (; i + 4 <= N; i += 4) {
    const __m256 u0 =
        _mm256_hadd_ps(_mm256_hadd_ps(a[i], a[i + 1]), _mm256_hadd_ps(a[i + 2], a[i + 3]));
    _mm_storeu_ps(res + i, _mm_add_ps(_mm256_castps256_ps128(u0), _mm256_extractf128_ps(u0, 1)));
  }
  for (; i < N; ++i) res[i] = hsum8(a[i]);
}

// s[r * stride + j] = scale * q_r . k_j for R rows and KJ consecutive keys from k.
template <int R, int KJ>
YOPO_SPAN_AVX2 void dots_avx2(const Tile& t, const float* k, int64_t ldkv, int64_t d, float scale,
                              float* s, int64_t stride) {
  __m256 acc[R * KJ];
  for (int x = 0; x < R * KJ; ++x) acc[x] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= d; i += 8) {
    __m256 qv[R];
    for (int r = 0; r < R; ++r) qv[r] = _mm256_loadu_ps(t.q[r] + i);
    for (int j = 0; j < KJ; ++j) {
      const __m256 kv = _mm256_loadu_ps(k + j * ldkv + i);
      for (int r = 0; r < R; ++r) acc[r * KJ + j] = _mm256_fmadd_ps(qv[r], kv, acc[r * KJ + j]);
    }
  }
  float res[R * KJ];
  reduce_avx2<R * KJ>(acc, res);
  for (int r = 0; r < R; ++r) {
    for (int64_t e = i; e < d; ++e)
      for (int j = 0; j < KJ; ++j) res[r * KJ + j] += t.q[r][e] * k[j * ldkv + e];
    for (int j = 0; j < KJ; ++j) s[r * stride + j] = res[r * KJ + j] * scale;
  }
}

template <int R>
YOPO_SPAN_AVX2 void scores_avx2(const Tile& t, const float* k, int64_t ldkv, int64_t d, float scale,
                                const Run* runs, int nruns, float* s, int64_t stride) {
  constexpr int KJ = R == 1 ? 8 : R == 2 ? 4 : 2;
  for (int u = 0; u < nruns; ++u) {
    const float* kr = k + runs[u].key * ldkv;
    float* sr = s + runs[u].pos;
    const int64_t len = runs[u].len;
    int64_t j = 0;
    for (; j + KJ <= len; j += KJ)
      dots_avx2<R, KJ>(t, kr + j * ldkv, ldkv, d, scale, sr + j, stride);
    if constexpr (KJ > 4) {
      if (j + 4 <= len) {
        dots_avx2<R, 4>(t, kr + j * ldkv, ldkv, d, scale, sr + j, stride);
        j += 4;
      }
    }
    if constexpr (KJ > 2) {
      if (j + 2 <= len) {
        dots_avx2<R, 2>(t, kr + j * ldkv, ldkv, d, scale, sr + j, stride);
        j += 2;
      }
    }
    if (j < len) dots_avx2<R, 1>(t, kr + j * ldkv, ldkv, d, scale, sr + j, stride);
  }
}

// The value pass goes over the keys in chunks whose V rows stay in the L1 cache while every
// column slice of the outputs is accumulated over them. Splits runs[first..] at `keys` keys
// into sub (at most `keys` entries); returns the number of sub-runs and advances the cursor.
struct RunCursor {
  int u = 0;
  int64_t off = 0;  // keys of runs[u] already taken
};
inline int next_chunk(const Run* runs, int nruns, int64_t keys, RunCursor& c, Run* sub) {
  int n = 0;
  while (keys > 0 && c.u < nruns) {
    const Run& r = runs[c.u];
    const int64_t take = std::min(keys, r.len - c.off);
    sub[n++] = {r.key + c.off, r.pos + c.off, take};
    keys -= take;
    c.off += take;
    if (c.off == r.len) {
      ++c.u;
      c.off = 0;
    }
  }
  return n;
}
constexpr int64_t kMaxChunkKeys = 64;
inline int64_t chunk_keys(int64_t d) {
  return std::clamp<int64_t>(16384 / (d * int64_t(sizeof(float))), 8, kMaxChunkKeys);
}

// out_r[c0, c0 + 8C) (+)= sum over the runs of p_r[pos] * v[key][c0, c0 + 8C).
template <int R, int C>
YOPO_SPAN_AVX2 void value_cols_avx2(const Tile& t, const float* p, int64_t stride, const float* v,
                                    int64_t ldkv, const Run* runs, int nruns, int64_t c0,
                                    bool accumulate) {
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c)
      acc[r][c] = accumulate ? _mm256_loadu_ps(t.out[r] + c0 + 8 * c) : _mm256_setzero_ps();
  for (int u = 0; u < nruns; ++u) {
    const float* vr = v + runs[u].key * ldkv + c0;
    const float* pr = p + runs[u].pos;
    for (int64_t j = 0; j < runs[u].len; ++j) {
      __m256 vv[C];
      for (int c = 0; c < C; ++c) vv[c] = _mm256_loadu_ps(vr + j * ldkv + 8 * c);
      for (int r = 0; r < R; ++r) {
        const __m256 w = _mm256_broadcast_ss(pr + r * stride + j);
        for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(w, vv[c], acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) _mm256_storeu_ps(t.out[r] + c0 + 8 * c, acc[r][c]);
}

template <int R>
YOPO_SPAN_AVX2 void values_avx2(const Tile& t, const float* p, int64_t stride, const float* v,
                                int64_t ldkv, int64_t d, const Run* runs, int nruns) {
  constexpr int C = R == 1 ? 8 : R == 2 ? 4 : 2;
  const int64_t d8 = d / 8 * 8;
  RunCursor cur;
  Run sub[kMaxChunkKeys];
  bool accumulate = false;
  do {
    const int n = next_chunk(runs, nruns, chunk_keys(d), cur, sub);
    int64_t c0 = 0;
    for (; c0 + 8 * C <= d8; c0 += 8 * C)
      value_cols_avx2<R, C>(t, p, stride, v, ldkv, sub, n, c0, accumulate);
    for (; c0 < d8; c0 += 8) value_cols_avx2<R, 1>(t, p, stride, v, ldkv, sub, n, c0, accumulate);
    accumulate = true;
  } while (cur.u < nruns);
  for (int64_t c0 = d8; c0 < d; ++c0) {
    for (int r = 0; r < R; ++r) {
      float acc = 0.0f;
      for (int u = 0; u < nruns; ++u)
        for (int64_t j = 0; j < runs[u].len; ++j)
          acc += p[r * stride + runs[u].pos + j] * v[(runs[u].key + j) * ldkv + c0];
      t.out[r][c0] = acc;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// AVX-512 kernels: 16 lanes, masked tails, and with 32 registers more keys / columns at a time.

// The sum of the two 256-bit halves. (The masked extracts avoid GCC 12's -Wuninitialized false
// positive on the unmasked ones, which start from an undefined vector.)
YOPO_SPAN_AVX512 inline __m256 fold512(__m512 v) {
  const __m512d x = _mm512_castps_pd(v);
  const __m256d z = _mm256_setzero_pd();
  return _mm256_add_ps(_mm256_castpd_ps(_mm512_mask_extractf64x4_pd(z, 0xF, x, 0)),
                       _mm256_castpd_ps(_mm512_mask_extractf64x4_pd(z, 0xF, x, 1)));
}

template <int R, int KJ>
YOPO_SPAN_AVX512 void dots_avx512(const Tile& t, const float* k, int64_t ldkv, int64_t d,
                                  float scale, float* s, int64_t stride) {
  __m512 acc[R][KJ];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < KJ; ++j) acc[r][j] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    __m512 qv[R];
    for (int r = 0; r < R; ++r) qv[r] = _mm512_loadu_ps(t.q[r] + i);
    for (int j = 0; j < KJ; ++j) {
      const __m512 kv = _mm512_loadu_ps(k + j * ldkv + i);
      for (int r = 0; r < R; ++r) acc[r][j] = _mm512_fmadd_ps(qv[r], kv, acc[r][j]);
    }
  }
  if (i < d) {
    const __mmask16 m = __mmask16((1u << (d - i)) - 1);
    __m512 qv[R];
    for (int r = 0; r < R; ++r) qv[r] = _mm512_maskz_loadu_ps(m, t.q[r] + i);
    for (int j = 0; j < KJ; ++j) {
      const __m512 kv = _mm512_maskz_loadu_ps(m, k + j * ldkv + i);
      for (int r = 0; r < R; ++r) acc[r][j] = _mm512_fmadd_ps(qv[r], kv, acc[r][j]);
    }
  }
  __m256 h[R * KJ];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < KJ; ++j) h[r * KJ + j] = fold512(acc[r][j]);
  float res[R * KJ];
  reduce_avx2<R * KJ>(h, res);
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < KJ; ++j) s[r * stride + j] = res[r * KJ + j] * scale;
}

template <int R>
YOPO_SPAN_AVX512 void scores_avx512(const Tile& t, const float* k, int64_t ldkv, int64_t d,
                                    float scale, const Run* runs, int nruns, float* s,
                                    int64_t stride) {
  constexpr int KJ = R <= 2 ? 8 : 4;
  for (int u = 0; u < nruns; ++u) {
    const float* kr = k + runs[u].key * ldkv;
    float* sr = s + runs[u].pos;
    const int64_t len = runs[u].len;
    int64_t j = 0;
    for (; j + KJ <= len; j += KJ)
      dots_avx512<R, KJ>(t, kr + j * ldkv, ldkv, d, scale, sr + j, stride);
    if constexpr (KJ > 4) {
      if (j + 4 <= len) {
        dots_avx512<R, 4>(t, kr + j * ldkv, ldkv, d, scale, sr + j, stride);
        j += 4;
      }
    }
    if (j + 2 <= len) {
      dots_avx512<R, 2>(t, kr + j * ldkv, ldkv, d, scale, sr + j, stride);
      j += 2;
    }
    if (j < len) dots_avx512<R, 1>(t, kr + j * ldkv, ldkv, d, scale, sr + j, stride);
  }
}

// Columns [c0, c0 + 16C) (the last vector masked by m) of every row's output, (+)=.
template <int R, int C>
YOPO_SPAN_AVX512 void value_cols_avx512(const Tile& t, const float* p, int64_t stride,
                                        const float* v, int64_t ldkv, const Run* runs, int nruns,
                                        int64_t c0, __mmask16 m, bool accumulate) {
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c + 1 < C; ++c)
      acc[r][c] = accumulate ? _mm512_loadu_ps(t.out[r] + c0 + 16 * c) : _mm512_setzero_ps();
    acc[r][C - 1] =
        accumulate ? _mm512_maskz_loadu_ps(m, t.out[r] + c0 + 16 * (C - 1)) : _mm512_setzero_ps();
  }
  for (int u = 0; u < nruns; ++u) {
    const float* vr = v + runs[u].key * ldkv + c0;
    const float* pr = p + runs[u].pos;
    for (int64_t j = 0; j < runs[u].len; ++j) {
      __m512 vv[C];
      for (int c = 0; c + 1 < C; ++c) vv[c] = _mm512_loadu_ps(vr + j * ldkv + 16 * c);
      vv[C - 1] = _mm512_maskz_loadu_ps(m, vr + j * ldkv + 16 * (C - 1));
      for (int r = 0; r < R; ++r) {
        const __m512 w = _mm512_set1_ps(pr[r * stride + j]);
        for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(w, vv[c], acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c + 1 < C; ++c) _mm512_storeu_ps(t.out[r] + c0 + 16 * c, acc[r][c]);
    _mm512_mask_storeu_ps(t.out[r] + c0 + 16 * (C - 1), m, acc[r][C - 1]);
  }
}

template <int R>
YOPO_SPAN_AVX512 void values_avx512(const Tile& t, const float* p, int64_t stride, const float* v,
                                    int64_t ldkv, int64_t d, const Run* runs, int nruns) {
  constexpr int C = R <= 2 ? 8 : 4;
  const __mmask16 all = 0xFFFF;
  RunCursor cur;
  Run sub[kMaxChunkKeys];
  bool accumulate = false;
  do {
    const int n = next_chunk(runs, nruns, chunk_keys(d), cur, sub);
    int64_t c0 = 0;
    for (; c0 + 16 * C <= d; c0 += 16 * C)
      value_cols_avx512<R, C>(t, p, stride, v, ldkv, sub, n, c0, all, accumulate);
    for (; c0 + 16 <= d; c0 += 16)
      value_cols_avx512<R, 1>(t, p, stride, v, ldkv, sub, n, c0, all, accumulate);
    if (c0 < d)
      value_cols_avx512<R, 1>(t, p, stride, v, ldkv, sub, n, c0, __mmask16((1u << (d - c0)) - 1),
                              accumulate);
    accumulate = true;
  } while (cur.u < nruns);
}

// ---------------------------------------------------------------------------------------------

template <int R>
void tile_scores(Isa isa, const Tile& t, const float* k, int64_t ldkv, int64_t d, float scale,
                 const Run* runs, int nruns, float* s, int64_t stride) {
  if (isa == Isa::Avx512) {
    scores_avx512<R>(t, k, ldkv, d, scale, runs, nruns, s, stride);
  } else if (isa == Isa::Avx2) {
    scores_avx2<R>(t, k, ldkv, d, scale, runs, nruns, s, stride);
  } else {
    scores_scalar(t, k, ldkv, d, scale, runs, nruns, s, stride);
  }
}

template <int R>
void tile_values(Isa isa, const Tile& t, const float* p, int64_t stride, const float* v,
                 int64_t ldkv, int64_t d, const Run* runs, int nruns) {
  if (isa == Isa::Avx512) {
    values_avx512<R>(t, p, stride, v, ldkv, d, runs, nruns);
  } else if (isa == Isa::Avx2) {
    values_avx2<R>(t, p, stride, v, ldkv, d, runs, nruns);
  } else {
    values_scalar(t, p, stride, v, ldkv, d, runs, nruns);
  }
}

// Per-thread scratch, carved from the context's attention buffer.
struct ThreadScratch {
  float* scores;    // kMaxRows rows of `stride` floats
  SegUse* use;      // max_segs
  Run* score_runs;  // max_segs
  Run* value_runs;  // max_segs
  float* packed_k;  // max_packed_keys rows of packed_ld floats
  float* packed_v;
};

// Copies the K and V rows of a key union (KV head kvh) into the thread's packed buffers.
void pack_keys(const SpanAttentionArgs& a, const Plan& p, const KeyUnion& u, int64_t kvh,
               int64_t ld, const ThreadScratch& ts) {
  const int64_t d = a.shape.head_dim;
  const size_t bytes = size_t(d) * sizeof(float);
  for (int64_t t = u.iv0; t < u.iv0 + u.niv; ++t) {
    const Interval& iv = p.ivs[size_t(t)];
    const float* k = a.k + int64_t(iv.begin) * a.ldkv + kvh * d;
    const float* v = a.v + int64_t(iv.begin) * a.ldkv + kvh * d;
    float* pk = ts.packed_k + iv.pos * ld;
    float* pv = ts.packed_v + iv.pos * ld;
    const int64_t n = iv.end - iv.begin;
    for (int64_t j = 0; j < n; ++j) {
      // Each row sits in its own page, beyond the hardware prefetchers' reach.
      if (j + kPackAhead < n) {
        const char* kn = reinterpret_cast<const char*>(k + (j + kPackAhead) * a.ldkv);
        const char* vn = reinterpret_cast<const char*>(v + (j + kPackAhead) * a.ldkv);
        for (size_t o = 0; o < bytes; o += 64) {
          _mm_prefetch(kn + o, _MM_HINT_T0);
          _mm_prefetch(vn + o, _MM_HINT_T0);
        }
      }
      std::memcpy(pk + j * ld, k + j * a.ldkv, bytes);
      std::memcpy(pv + j * ld, v + j * a.ldkv, bytes);
    }
  }
}

size_t round64(size_t n) {
  return (n + 63) / 64 * 64;
}

// Where a tile finds its keys' K and V rows: cache row j at k + j * ld (v likewise), or, when
// ivs is set, packed: row j of interval t at k + (t.pos + j - t.begin) * ld.
struct KeyRows {
  const float* k;
  const float* v;
  int64_t ld;
  const Interval* ivs = nullptr;
  int64_t n_ivs = 0;
};

// The rows of a tile that compute something, with their heads' modes and query bits.
struct TileRows {
  Tile t;
  VisualKeys mode[kMaxRows];
  uint8_t qbit[kMaxRows];
};

// The block's queries against heads [h0, h1): zeroes the outputs of the rows that are skipped
// (visual query in a pruned head) or see no non-visual key in a pruned head; collects the rest.
void select_rows(const SpanAttentionArgs& a, const Plan& plan, const Block& B, int64_t h0,
                 int64_t h1, TileRows& tr) {
  const int64_t d = a.shape.head_dim;
  const Segment* seg = plan.segs.data() + B.seg0;
  Tile& t = tr.t;
  t.n = 0;
  for (int64_t b = 0; b < B.nq; ++b) {
    const int64_t i = B.q0 + b;
    const bool visual_query = a.visual_query && a.visual_query[i];
    for (int64_t h = h0; h < h1; ++h) {
      const VisualKeys m = mode_of(a, h);
      float* o = a.out + i * a.ldo + h * d;
      bool active = true;
      if (m != VisualKeys::Live) {
        // Skipped for visual queries; zero when the query sees no non-visual key.
        active = false;
        if (!visual_query) {
          for (int64_t g = 0; g < B.nseg && !active; ++g)
            active = ((seg[g].member & ~seg[g].visual) >> b) & 1;
        }
      }
      if (!active) {
        std::fill(o, o + d, 0.0f);
        continue;
      }
      t.q[t.n] = a.q + i * a.ldq + h * d;
      t.out[t.n] = o;
      tr.mode[t.n] = m;
      tr.qbit[t.n] = uint8_t(1u << b);
      ++t.n;
    }
  }
}

// Computes a tile's selected rows (at least one).
void run_tile(Isa isa, const SpanAttentionArgs& a, const Plan& plan, const Block& B,
              const TileRows& tr, const KeyRows& kr, const ThreadScratch& ts, int64_t stride) {
  const int64_t d = a.shape.head_dim;
  const Segment* seg = plan.segs.data() + B.seg0;
  const Tile& t = tr.t;
  const VisualKeys* mode = tr.mode;
  const uint8_t* qbit = tr.qbit;

  // Which rows need each segment; score positions; runs of contiguous keys.
  int64_t width = 0;
  int ns = 0, nv = 0;
  int64_t iv = 0;  // the interval holding the current segment (packed rows)
  for (int64_t g = 0; g < B.nseg; ++g) {
    const Segment& sg = seg[g];
    uint8_t need_s = 0, need_v = 0;
    for (int r = 0; r < t.n; ++r) {
      if (!(sg.member & qbit[r])) continue;
      const bool vis = sg.visual & qbit[r];
      if (!vis || mode[r] != VisualKeys::Excluded) need_s |= uint8_t(1u << r);
      if (!vis || mode[r] == VisualKeys::Live) need_v |= uint8_t(1u << r);
    }
    ts.use[g] = {int32_t(width), need_s, need_v};
    if (!need_s) continue;
    const int64_t len = sg.end - sg.begin;
    // The segment's first row in kr (adjacent cache rows are adjacent packed rows too).
    int64_t row = sg.begin;
    if (kr.ivs) {
      while (kr.ivs[iv].end <= sg.begin) ++iv;
      row = kr.ivs[iv].pos + (sg.begin - kr.ivs[iv].begin);
    }
    Run* sr = ts.score_runs;
    if (ns > 0 && sr[ns - 1].key + sr[ns - 1].len == row) {
      sr[ns - 1].len += len;
    } else {
      sr[ns++] = {row, width, len};
    }
    if (need_v) {
      Run* vr = ts.value_runs;
      if (nv > 0 && vr[nv - 1].key + vr[nv - 1].len == row &&
          vr[nv - 1].pos + vr[nv - 1].len == width) {
        vr[nv - 1].len += len;
      } else {
        vr[nv++] = {row, width, len};
      }
    }
    width += len;
  }

  const float* k = kr.k;
  const float* v = kr.v;
  const int64_t ldk = kr.ld;
  float* s = ts.scores;
  switch (t.n) {
    case 1:
      tile_scores<1>(isa, t, k, ldk, d, a.scale, ts.score_runs, ns, s, stride);
      break;
    case 2:
      tile_scores<2>(isa, t, k, ldk, d, a.scale, ts.score_runs, ns, s, stride);
      break;
    case 3:
      tile_scores<3>(isa, t, k, ldk, d, a.scale, ts.score_runs, ns, s, stride);
      break;
    default:
      tile_scores<4>(isa, t, k, ldk, d, a.scale, ts.score_runs, ns, s, stride);
      break;
  }

  // Softmax per row over the keys whose scores it needs; then the weights of keys it does not
  // sum (other rows' keys, Dead visual keys) are set to 0.
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int r = 0; r < t.n; ++r) {
    float* x = s + r * stride;
    const uint8_t bit = uint8_t(1u << r);
    for (int64_t g = 0; g < B.nseg; ++g) {
      const SegUse& u = ts.use[g];
      if (u.need_s && !(u.need_s & bit))
        std::fill(x + u.pos, x + u.pos + (seg[g].end - seg[g].begin), kNegInf);
    }
    float mx = kNegInf;
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < width; ++j) mx = x[j] > mx ? x[j] : mx;
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) x[j] -= mx;
    exp_inplace(x, width);
    for (int64_t g = 0; g < B.nseg; ++g) {
      const SegUse& u = ts.use[g];
      if (u.need_s && !(u.need_s & bit))
        std::fill(x + u.pos, x + u.pos + (seg[g].end - seg[g].begin), 0.0f);
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < width; ++j) sum += x[j];
    if (mode[r] == VisualKeys::Dead) {
      for (int64_t g = 0; g < B.nseg; ++g) {
        const SegUse& u = ts.use[g];
        if ((u.need_s & bit) && !(u.need_v & bit))
          std::fill(x + u.pos, x + u.pos + (seg[g].end - seg[g].begin), 0.0f);
      }
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) x[j] *= inv;
  }

  switch (t.n) {
    case 1:
      tile_values<1>(isa, t, s, stride, v, ldk, d, ts.value_runs, nv);
      break;
    case 2:
      tile_values<2>(isa, t, s, stride, v, ldk, d, ts.value_runs, nv);
      break;
    case 3:
      tile_values<3>(isa, t, s, stride, v, ldk, d, ts.value_runs, nv);
      break;
    default:
      tile_values<4>(isa, t, s, stride, v, ldk, d, ts.value_runs, nv);
      break;
  }
}

Isa pick_isa(const Context& ctx) {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (ctx.avx512() && avx512 && avx2) return Isa::Avx512;
  return avx2 ? Isa::Avx2 : Isa::Scalar;
}

}  // namespace

void attention_spans(Context& ctx, const SpanAttentionArgs& a) {
  validate(a, "attention_spans");
  if (a.n_q == 0) return;
  check(a.q && a.k && a.v && a.out, "attention_spans: null q, k, v or out");

  const int64_t H = a.shape.n_heads, KVH = a.shape.n_kv_heads, group = H / KVH;
  // Heads of one KV head go together (same query, so the same spans: no masked products);
  // the rest of a tile's rows are consecutive queries.
  const int64_t heads_per_tile = std::min<int64_t>(group, kMaxRows);
  const int max_nq = int(std::max<int64_t>(1, kMaxRows / heads_per_tile));
  const int64_t chunks_per_kv = (group + heads_per_tile - 1) / heads_per_tile;
  const int64_t head_chunks = KVH * chunks_per_kv;

  const int threads_wanted = std::max(1, ctx.threads());
  static thread_local Plan plan;
  build_plan(a, max_nq, plan);
  const int64_t n_blocks = int64_t(plan.blocks.size());
  const int64_t d = a.shape.head_dim;
  const int64_t packed_ld = (d + 15) / 16 * 16;  // packed rows 64-byte aligned
  // Each head chunk's flavor (the keys it reads).
  static thread_local std::vector<uint8_t> chunk_flavor;
  chunk_flavor.assign(size_t(head_chunks), uint8_t(kTextKeys));
  bool used[kFlavors] = {};
  for (int64_t hc = 0; hc < head_chunks; ++hc) {
    const int64_t kvh = hc / chunks_per_kv;
    const int64_t h0 = kvh * group + (hc % chunks_per_kv) * heads_per_tile;
    const int64_t h1 = std::min(kvh * group + group, h0 + heads_per_tile);
    uint8_t& f = chunk_flavor[size_t(hc)];
    for (int64_t h = h0; h < h1; ++h) {
      const VisualKeys m = mode_of(a, h);
      if (m == VisualKeys::Live) f = kAllKeys;
      if (m == VisualKeys::Dead && f == kTextKeys) f = kTextQueries;
    }
    used[f] = true;
  }
  build_ranges(plan,
               std::clamp<int64_t>(
                   (kItemsPerThread * threads_wanted + head_chunks - 1) / head_chunks, 1, n_blocks),
               packed_ld * int64_t(2 * sizeof(float)), used);
  const int64_t n_ranges = int64_t(plan.ranges.size());
  const int64_t items = head_chunks * n_ranges;

  const int64_t stride = std::max<int64_t>(16, (plan.max_width + 15) / 16 * 16);
  const size_t score_bytes = round64(size_t(kMaxRows * stride) * sizeof(float));
  const size_t use_bytes = round64(size_t(plan.max_segs) * sizeof(SegUse));
  const size_t run_bytes = round64(size_t(plan.max_segs) * sizeof(Run));
  const size_t pack_bytes = size_t(plan.max_packed_keys * packed_ld) * sizeof(float);
  const size_t per_thread = score_bytes + use_bytes + 2 * run_bytes + 2 * pack_bytes;
  const int threads = int(std::min<int64_t>(threads_wanted, items));
  char* scratch = static_cast<char*>(ctx.scratch(Scratch::Attention, size_t(threads) * per_thread));
  const Isa isa = pick_isa(ctx);
  const Plan& p = plan;  // the calling thread's plan, shared with the team
  const uint8_t* flavors = chunk_flavor.data();

#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t it = 0; it < items; ++it) {
    // Range by range (the heads of a range share the pages of its rows of q, out, K and V);
    // later ranges (in causal prefill: the longer queries) first.
    const int64_t hc = it % head_chunks;
    const Range& R = p.ranges[size_t(n_ranges - 1 - it / head_chunks)];
    const int64_t kvh = hc / chunks_per_kv;
    const int64_t h0 = kvh * group + (hc % chunks_per_kv) * heads_per_tile;
    const int64_t h1 = std::min(kvh * group + group, h0 + heads_per_tile);
    char* base = scratch + size_t(omp_get_thread_num()) * per_thread;
    const size_t o1 = score_bytes, o2 = o1 + use_bytes, o3 = o2 + run_bytes, o4 = o3 + run_bytes;
    const ThreadScratch ts{
        reinterpret_cast<float*>(base),      reinterpret_cast<SegUse*>(base + o1),
        reinterpret_cast<Run*>(base + o2),   reinterpret_cast<Run*>(base + o3),
        reinterpret_cast<float*>(base + o4), reinterpret_cast<float*>(base + o4 + pack_bytes)};
    const KeyUnion& u = R.keys[flavors[hc]];
    KeyRows kr{a.k + kvh * d, a.v + kvh * d, a.ldkv};
    bool packed = false;  // packed at the first tile that computes anything
    TileRows tr;
    for (int64_t b = R.b1 - 1; b >= R.b0; --b) {
      const Block& B = p.blocks[size_t(b)];
      select_rows(a, p, B, h0, h1, tr);
      if (tr.t.n == 0) continue;
      if (u.packed && !packed) {
        pack_keys(a, p, u, kvh, packed_ld, ts);
        kr = {ts.packed_k, ts.packed_v, packed_ld, p.ivs.data() + u.iv0, u.niv};
        packed = true;
      }
      run_tile(isa, a, p, B, tr, kr, ts, stride);
    }
  }
}

SpanAttentionWork attention_spans_work(const SpanAttentionArgs& a) {
  validate(a, "attention_spans_work");
  SpanAttentionWork w;
  for (int64_t i = 0; i < a.n_q; ++i) {
    int64_t text = 0;
    const double all = double(query_keys(a, i, &text));
    const bool visual_query = a.visual_query && a.visual_query[i];
    for (int64_t h = 0; h < a.shape.n_heads; ++h) {
      switch (mode_of(a, h)) {
        case VisualKeys::Live:
          w.scores += all;
          w.value_terms += all;
          break;
        case VisualKeys::Dead:
          if (visual_query || text == 0) break;
          w.scores += all;
          w.value_terms += double(text);
          break;
        case VisualKeys::Excluded:
          if (visual_query) break;
          w.scores += double(text);
          w.value_terms += double(text);
          break;
      }
    }
  }
  return w;
}

}  // namespace yopo::ops

#undef YOPO_SPAN_AVX2
#undef YOPO_SPAN_AVX512
