#include "quant/fp4.h"

#include <cmath>

namespace qs {

const float* E2M1Table() {
  static const float t[16] = {0.f,  0.5f,  1.f,  1.5f,  2.f,  3.f,  4.f,  6.f,
                              -0.f, -0.5f, -1.f, -1.5f, -2.f, -3.f, -4.f, -6.f};
  return t;
}

uint8_t F32ToE2M1(float x) {
  if (std::isnan(x)) return 0;
  const uint8_t sign = std::signbit(x) ? 0x8 : 0;
  const float a = std::fabs(x);
  // Midpoints between consecutive magnitudes; at a tie the even code (lower mantissa bit 0) wins:
  // codes 0 .5 1 1.5 2 3 4 6 -> ties at .25 (->0), .75 (->1), 1.25 (->1), 1.75 (->2), 2.5 (->2),
  // 3.5 (->4), 5 (->4).
  uint8_t c;
  if (a <= 0.25f) c = 0;
  else if (a < 0.75f) c = 1;
  else if (a <= 1.25f) c = 2;
  else if (a < 1.75f) c = 3;
  else if (a <= 2.5f) c = 4;
  else if (a < 3.5f) c = 5;
  else if (a <= 5.f) c = 6;
  else c = 7;
  return sign | c;
}

}  // namespace qs
