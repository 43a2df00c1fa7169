// keyframes.h: Deforum's keyframe schedules, "0:(1.0), 30:(1.04), 60:(1.0+0.02*sin(t/5))": one value per frame.
//
// The string is split on "," and then ":" (so an expression cannot hold a comma): a frame number (or an expression
// in max_f) and a value in parentheses. A number sits at its frame; an expression is evaluated at its frame and at
// every later frame up to the next keyframe, with t = the frame, max_f = frames - 1, s = the seed. Frame 0 and the
// last frame take the first and last values set, and the frames between set values are linear interpolations
// (Deforum's FrameInterpolater.parse_inbetweens with pandas' linear interpolate). Expressions are numexpr's
// arithmetic: + - * / % ** (right-associative, above unary minus), parentheses, pi, e, and sin cos tan arcsin
// arccos arctan sinh cosh tanh exp log log10 sqrt abs floor ceil, evaluated in double precision.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sdref {

// The schedule's value at each of `frames` frames; errors name `what` (the flag) and the part that is wrong.
std::vector<double> parse_keyframes(const std::string& schedule, int64_t frames, const std::string& what, double seed = 0);

// One numexpr-style expression with t, max_f and s bound (for tests and --*-schedule's error messages).
double evaluate_expression(const std::string& expression, double t, double max_f, double s, const std::string& what);

}  // namespace sdref
