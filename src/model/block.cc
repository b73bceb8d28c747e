#include "model/block.h"

#include "model/weight_source.h"

namespace qs {

Status Block::Load(WeightSource& src) {
  LoadVisitor v(src);
  VisitTensors(v);
  QS_RETURN_IF_ERROR(v.status());
  return Finish(src);
}

void LoadVisitor::Matrix(const std::string& name, WeightMatrix* w, int64_t rows, int64_t cols, TensorRole, bool) {
  if (!st_.ok() || !w) return;
  auto r = src_.Matrix(name, rows, cols);
  if (!r.ok()) st_ = r.status();
  else *w = std::move(r).value();
}

void LoadVisitor::Matrix3D(const std::string& name, WeightMatrix* w, int64_t n, int64_t rows, int64_t cols) {
  if (!st_.ok() || !w) return;
  auto r = src_.Matrix3D(name, n, rows, cols);
  if (!r.ok()) st_ = r.status();
  else *w = std::move(r).value();
}

void LoadVisitor::Vector(const std::string& name, std::vector<float>* v, int64_t n, TensorRole) {
  if (!st_.ok() || !v) return;
  auto r = src_.Vector(name, n);
  if (!r.ok()) st_ = r.status();
  else *v = std::move(r).value();
}

}  // namespace qs
