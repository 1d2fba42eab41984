#include "ops/onednn_matmul.h"

#include <string>

#include "core/error.h"

namespace yopo::ops {

namespace {

using dnnl::memory;

memory::data_type onednn_type(DType t) {
  switch (t) {
    case DType::BF16:
      return memory::data_type::bf16;
    case DType::I8:
      return memory::data_type::s8;
    case DType::F32:
      return memory::data_type::f32;
    default:
      fail("oneDNN matmul: unsupported type ", dtype_name(t));
  }
}

MatmulPrimitive build_primitive(Context& ctx, const MatmulKey& k) {
  MatmulPrimitive p;
  const memory::data_type in = onednn_type(k.dtype);
  const memory::desc src({k.m, k.k}, in, memory::dims{k.ldx, 1});
  const memory::desc wei({k.k, k.n}, in, memory::dims{1, k.ldw});
  const memory::desc dst({k.m, k.n}, memory::data_type::f32, memory::dims{k.ldy, 1});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (k.accumulate) {
    dnnl::post_ops po;
    po.append_sum(1.0f);
    attr.set_post_ops(po);
  }
  try {
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), attr, ctx.engine());
    // oneDNN's reference implementation is far slower than the engine's own kernels.
    const std::string impl = pd.impl_info_str();
    if (impl.rfind("ref", 0) == 0) return p;
    p.prim = dnnl::matmul(pd);
    p.src = memory(src, ctx.engine(), DNNL_MEMORY_NONE);
    p.weights = memory(wei, ctx.engine(), DNNL_MEMORY_NONE);
    p.dst = memory(dst, ctx.engine(), DNNL_MEMORY_NONE);
    p.scratchpad_bytes = pd.scratchpad_desc().get_size();
    p.scratchpad = memory(pd.scratchpad_desc(), ctx.engine(), DNNL_MEMORY_NONE);
    p.args = {{DNNL_ARG_SRC, p.src},
              {DNNL_ARG_WEIGHTS, p.weights},
              {DNNL_ARG_DST, p.dst},
              {DNNL_ARG_SCRATCHPAD, p.scratchpad}};
    p.ok = true;
  } catch (const dnnl::error&) {
    p = MatmulPrimitive();  // no implementation for this shape: the caller uses its own kernel
  }
  return p;
}

}  // namespace

MatmulPrimitive* onednn_primitive(Context& ctx, const MatmulKey& key) {
  MatmulPrimitive* p = ctx.find_matmul(key);
  if (!p) p = &ctx.add_matmul(key, build_primitive(ctx, key));
  return p->ok ? p : nullptr;
}

void run_onednn(Context& ctx, MatmulPrimitive& p, const MatmulKey& key, const void* x,
                const void* w, float* y) {
  try {
    p.src.set_data_handle(const_cast<void*>(x));
    p.weights.set_data_handle(const_cast<void*>(w));
    p.dst.set_data_handle(y);
    p.scratchpad.set_data_handle(
        p.scratchpad_bytes ? ctx.scratch(Scratch::MatmulScratchpad, p.scratchpad_bytes) : nullptr);
    p.prim.execute(ctx.stream(), p.args);
    ctx.stream().wait();
  } catch (const dnnl::error& e) {
    fail("oneDNN ", dtype_name(key.dtype), " matmul ", key.m, "x", key.k, " * (", key.n, "x", key.k,
         ")^T failed: ", e.what());
  }
}

}  // namespace yopo::ops
