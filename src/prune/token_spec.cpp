#include "prune/token_spec.h"

#include <cmath>
#include <map>
#include <vector>

#include "core/error.h"

namespace yopo {

namespace {

std::string method_of(const std::string& spec) {
  return spec.substr(0, spec.find(':'));
}

std::map<std::string, std::string> args_of(const std::string& spec) {
  std::map<std::string, std::string> a;
  const size_t colon = spec.find(':');
  if (colon == std::string::npos) return a;
  const std::string rest = spec.substr(colon + 1);
  size_t start = 0;
  while (start <= rest.size()) {
    size_t comma = rest.find(',', start);
    if (comma == std::string::npos) comma = rest.size();
    const std::string kv = rest.substr(start, comma - start);
    const size_t eq = kv.find('=');
    check(eq != std::string::npos && eq > 0 && eq + 1 < kv.size(), "plan spec '", spec, "': '", kv,
          "' is not key=value");
    check(a.emplace(kv.substr(0, eq), kv.substr(eq + 1)).second, "plan spec '", spec, "': '",
          kv.substr(0, eq), "' is given twice");
    start = comma + 1;
  }
  return a;
}

double number(const std::string& spec, const std::string& key, const std::string& v) {
  size_t used = 0;
  double x = 0;
  try {
    x = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  check(used == v.size() && !v.empty() && std::isfinite(x), "plan spec '", spec, "': ", key, "=", v,
        " is not a number");
  return x;
}

int64_t integer(const std::string& spec, const std::string& key, const std::string& v) {
  const double x = number(spec, key, v);
  check(x == std::floor(x) && std::fabs(x) < 1e15, "plan spec '", spec, "': ", key, "=", v,
        " is not an integer");
  return int64_t(x);
}

std::vector<std::string> list_of(const std::string& v) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t slash = v.find('/', start);
    out.push_back(v.substr(start, slash == std::string::npos ? slash : slash - start));
    if (slash == std::string::npos) return out;
    start = slash + 1;
  }
}

void allow_only(const std::string& spec, const std::map<std::string, std::string>& a,
                std::initializer_list<const char*> keys) {
  for (const auto& [k, _] : a) {
    bool ok = false;
    std::string list;
    for (const char* x : keys) {
      ok = ok || k == x;
      list += std::string(list.empty() ? "" : ", ") + x;
    }
    check(ok, "plan spec '", spec, "': unknown argument '", k, "' (allowed: ", list, ")");
  }
}

}  // namespace

bool is_token_spec(const std::string& spec) {
  const std::string m = method_of(spec);
  return m == "fastv" || m == "pdrop" || m == "sparsevlm";
}

TokenPruning parse_token_spec(const std::string& spec, int64_t n_layers) {
  const std::string m = method_of(spec);
  const auto a = args_of(spec);
  TokenPruning tp;
  if (m == "fastv") {
    allow_only(spec, a, {"K", "R"});
    tp.method = TokenMethod::FastV;
    TokenStage st;
    st.layer = a.count("K") ? integer(spec, "K", a.at("K")) : 2;
    const double R = a.count("R") ? number(spec, "R", a.at("R")) : 0.5;
    check(R >= 0 && R <= 1, "plan spec '", spec, "': R=", R,
          " (the share dropped) must lie in [0, 1]");
    st.ratio = 1.0 - R;
    tp.stages.push_back(st);
  } else if (m == "pdrop") {
    allow_only(spec, a, {"layers", "lambda", "ratios"});
    check(!(a.count("lambda") && a.count("ratios")), "plan spec '", spec,
          "': give lambda or ratios, not both");
    tp.method = TokenMethod::PDrop;
    std::vector<int64_t> layers;
    if (a.count("layers")) {
      for (const std::string& x : list_of(a.at("layers")))
        layers.push_back(integer(spec, "layers", x));
    } else {
      for (int k = 1; k <= 3; ++k) layers.push_back(int64_t(std::lround(double(n_layers) * k / 4)));
    }
    std::vector<double> ratios;
    if (a.count("ratios")) {
      for (const std::string& x : list_of(a.at("ratios")))
        ratios.push_back(number(spec, "ratios", x));
      check(ratios.size() == layers.size(), "plan spec '", spec, "': ", ratios.size(),
            " ratios for ", layers.size(), " layers");
    } else {
      const double lambda = a.count("lambda") ? number(spec, "lambda", a.at("lambda")) : 0.5;
      check(lambda >= 0 && lambda <= 1, "plan spec '", spec, "': lambda=", lambda,
            " must lie in [0, 1]");
      double r = 1;
      for (size_t i = 0; i < layers.size(); ++i) ratios.push_back(r *= lambda);
    }
    for (size_t i = 0; i < layers.size(); ++i) {
      TokenStage st;
      st.layer = layers[i];
      st.ratio = ratios[i];
      tp.stages.push_back(st);
    }
  } else if (m == "sparsevlm") {
    allow_only(spec, a, {"budget", "layers", "keep"});
    tp.method = TokenMethod::SparseVLM;
    std::vector<int64_t> layers = {2, 6, 15}, keep;
    if (a.count("keep")) {
      check(!a.count("budget"), "plan spec '", spec, "': give budget or keep, not both");
      for (const std::string& x : list_of(a.at("keep"))) keep.push_back(integer(spec, "keep", x));
    } else {
      const int64_t budget = a.count("budget") ? integer(spec, "budget", a.at("budget")) : 192;
      if (budget == 192)
        keep = {300, 200, 110};
      else if (budget == 128)
        keep = {303, 110, 36};
      else if (budget == 64)
        keep = {66, 30, 17};
      else
        fail("plan spec '", spec, "': budget=", budget,
             " has no published keep list (192, 128 or 64; or give keep=A/B/C)");
    }
    if (a.count("layers")) {
      layers.clear();
      for (const std::string& x : list_of(a.at("layers")))
        layers.push_back(integer(spec, "layers", x));
    }
    check(layers.size() == keep.size(), "plan spec '", spec, "': ", keep.size(),
          " keep counts for ", layers.size(), " layers");
    for (size_t i = 0; i < layers.size(); ++i) {
      TokenStage st;
      st.layer = layers[i] + 1;  // ranked with layer s's attention, the rows leave after it
      st.keep = keep[i];
      tp.stages.push_back(st);
    }
  } else {
    fail("plan spec '", spec, "' is not a token-pruning method (fastv, pdrop, sparsevlm)");
  }
  tp.validate(n_layers);
  return tp;
}

}  // namespace yopo
