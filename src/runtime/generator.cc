#include "runtime/generator.h"

#include <algorithm>

namespace qs {

int32_t Argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;  // first maximum wins, as torch.argmax
  return static_cast<int32_t>(best);
}

Generator::Generator(Model* model, ThreadPool* pool, int64_t max_tokens)
    : model_(model), pool_(pool), cache_(model->NewCache(max_tokens)) {}

Status Generator::Feed(const std::vector<int32_t>& tokens, std::vector<float>* all_logits) {
  if (tokens.empty()) return InvalidArgument("no tokens to feed");
  const int64_t V = model_->config().vocab_size, T = static_cast<int64_t>(tokens.size());
  std::vector<float>& out = all_logits ? *all_logits : buf_;
  out.resize(static_cast<size_t>(T * V));
  QS_RETURN_IF_ERROR(model_->Forward(tokens.data(), T, cache_.get(), out.data(), pool_));
  last_.assign(out.end() - V, out.end());
  return Status::Ok();
}

Result<std::vector<int32_t>> Generator::GreedyContinue(int64_t n, bool ignore_eos,
                                                       const std::function<void(int32_t)>& on_token) {
  if (last_.empty()) return InvalidArgument("feed a prompt before generating");
  const int64_t V = model_->config().vocab_size, eos = model_->config().eos_token_id;
  std::vector<int32_t> out;
  for (int64_t i = 0; i < n; ++i) {
    int32_t tok = Argmax(last_.data(), V);
    out.push_back(tok);
    if (on_token) on_token(tok);
    if (!ignore_eos && tok == eos) break;
    if (i + 1 < n) QS_RETURN_IF_ERROR(Feed({tok}));
  }
  return out;
}

}  // namespace qs
