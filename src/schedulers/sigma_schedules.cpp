#include "schedulers/sigma_schedules.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace sdref {

namespace {

std::vector<double> linspace(double a, double b, int n, bool endpoint = true) {
    std::vector<double> v(size_t(std::max(n, 0)));
    const double div = endpoint ? double(n - 1) : double(n);
    for (int i = 0; i < n; ++i) v[size_t(i)] = n == 1 && endpoint ? a : a + (b - a) * double(i) / div;
    return v;
}

std::vector<double> with_zero(std::vector<double> s) {
    s.push_back(0.0);
    return s;
}

// The regularized incomplete beta function I_x(a, b), by its continued fraction (modified Lentz), on the side of
// x where it converges fast.
double incomplete_beta(double x, double a, double b) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    if (x > (a + 1) / (a + b + 2)) return 1 - incomplete_beta(1 - x, b, a);
    const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x)) / a;
    const double tiny = 1e-300;
    double f = 1, c = 1, d = 0;
    for (int i = 0; i <= 400; ++i) {
        const int m = i / 2;
        double num;
        if (i == 0) num = 1;
        else if (i % 2 == 0) num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
        else num = -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
        d = 1 + num * d;
        if (std::fabs(d) < tiny) d = tiny;
        d = 1 / d;
        c = 1 + num / c;
        if (std::fabs(c) < tiny) c = tiny;
        const double cd = c * d;
        f *= cd;
        if (std::fabs(1 - cd) < 1e-16) break;
    }
    return front * (f - 1);
}

// the published Align Your Steps tables (NVIDIA), 11 levels from sigma_max down
const double kAys15[11] = {14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029};
const double kAysXl[11] = {14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029};

std::vector<double> align_your_steps(const double (&table)[11], int n) {
    std::vector<double> out(table, table + 11);
    if (n != 11) {
        // exp(interp(linspace(0, 1, n), linspace(0, 1, 11), log(table reversed))), reversed
        std::vector<double> logs;
        for (int i = 10; i >= 0; --i) logs.push_back(std::log(table[i]));
        out.clear();
        for (double x : linspace(0, 1, n)) {
            const double pos = x * 10;
            const int lo = std::min(int(std::floor(pos)), 9);
            const double w = pos - lo;
            out.push_back(std::exp(logs[size_t(lo)] + (logs[size_t(lo + 1)] - logs[size_t(lo)]) * w));
        }
        std::reverse(out.begin(), out.end());
    }
    return with_zero(out);
}

}  // namespace

double SigmaTable::at(double t) const {
    const double lo = std::floor(t), w = t - lo;
    const size_t i = size_t(lo), j = std::min(i + 1, sigmas.size() - 1);
    return std::exp((1 - w) * double(log_sigmas[i]) + w * double(log_sigmas[j]));
}

SigmaTable a1111_sigma_table(const std::vector<float>& alphas_cumprod) {
    SigmaTable t;
    for (float a : alphas_cumprod) {
        const float s = std::sqrt((1.0f - a) / a);
        t.sigmas.push_back(s);
        t.log_sigmas.push_back(std::log(s));
    }
    return t;
}

SigmaTable comfy_sigma_table(const std::vector<double>& alphas_cumprod64) {
    SigmaTable t;
    for (double a : alphas_cumprod64) {
        const double s = std::sqrt((1 - a) / a);
        t.sigmas.push_back(float(s));
        t.log_sigmas.push_back(float(std::log(s)));
    }
    return t;
}

std::vector<double> alphas_cumprod64(const SchedulerConfig& c) {
    std::vector<double> betas;
    if (c.beta_schedule == "scaled_linear")
        for (double x : linspace(std::sqrt(c.beta_start), std::sqrt(c.beta_end), c.num_train_timesteps)) betas.push_back(x * x);
    else if (c.beta_schedule == "linear") betas = linspace(c.beta_start, c.beta_end, c.num_train_timesteps);
    else fail("named sigma schedules: beta_schedule \"", c.beta_schedule, "\" is not linear or scaled_linear");
    std::vector<double> out;
    double prod = 1;
    for (double b : betas) out.push_back(prod *= 1 - b);
    return out;
}

double beta_ppf(double p, double a, double b) {
    if (p <= 0) return 0;
    if (p >= 1) return 1;
    double lo = 0, hi = 1;
    for (int i = 0; i < 200 && hi - lo > 1e-17; ++i) {
        const double mid = (lo + hi) / 2;
        (incomplete_beta(mid, a, b) < p ? lo : hi) = mid;
    }
    return (lo + hi) / 2;
}

const std::vector<std::string>& sigma_schedule_names() {
    static const std::vector<std::string> names = {"uniform", "normal", "sgm_uniform", "karras", "exponential", "polyexponential", "simple",
                                                   "ddim_uniform", "beta", "comfy_beta", "kl_optimal", "comfy_kl_optimal",
                                                   "linear_quadratic", "align_your_steps", "align_your_steps_sdxl"};
    return names;
}

std::string a1111_schedule_label(const std::string& name) {
    static const std::pair<const char*, const char*> labels[] = {
        {"uniform", "Uniform"}, {"normal", "Normal"}, {"sgm_uniform", "SGM Uniform"}, {"karras", "Karras"}, {"exponential", "Exponential"},
        {"polyexponential", "Polyexponential"}, {"simple", "Simple"}, {"ddim_uniform", "DDIM"}, {"beta", "Beta"},
        {"kl_optimal", "KL Optimal"}, {"align_your_steps", "Align Your Steps"}, {"align_your_steps_sdxl", "Align Your Steps"}};
    for (const auto& [n, label] : labels)
        if (name == n) return label;
    return "";
}

std::vector<double> named_sigmas(const std::string& name, int n, const SigmaTable& t) {
    const int T = int(t.sigmas.size());
    const double smin = t.min(), smax = t.max();
    std::vector<double> s;
    if (name == "uniform" || name == "normal") {
        for (double x : linspace(T - 1, 0, n)) s.push_back(t.at(x));
        return with_zero(s);
    }
    if (name == "sgm_uniform") {
        const std::vector<double> x = linspace(T - 1, 0, n + 1);
        for (int i = 0; i < n; ++i) s.push_back(t.at(x[size_t(i)]));
        return with_zero(s);
    }
    if (name == "karras") {
        const double rho = 7, a = std::pow(smax, 1 / rho), b = std::pow(smin, 1 / rho);
        for (double r : linspace(0, 1, n)) s.push_back(std::pow(a + r * (b - a), rho));
        return with_zero(s);
    }
    if (name == "exponential") {
        for (double x : linspace(std::log(smax), std::log(smin), n)) s.push_back(std::exp(x));
        return with_zero(s);
    }
    if (name == "polyexponential") {
        for (double r : linspace(1, 0, n)) s.push_back(std::exp(r * (std::log(smax) - std::log(smin)) + std::log(smin)));
        return with_zero(s);
    }
    if (name == "simple") {
        const double stride = double(T) / double(n);
        for (int x = 0; x < n; ++x) s.push_back(t.sigmas[size_t(T - 1 - int(double(x) * stride))]);
        return with_zero(s);
    }
    if (name == "ddim_uniform") {
        const int c = T / n;
        for (int i = 1; i < T; i += c) s.push_back(t.sigmas[size_t(i)]);
        std::reverse(s.begin(), s.end());
        return with_zero(s);
    }
    if (name == "beta") {
        for (double x : linspace(0, 1, n)) s.push_back(smin + beta_ppf(1 - x, 0.6, 0.6) * (smax - smin));
        return with_zero(s);
    }
    if (name == "comfy_beta") {
        long last = -1;
        for (double x : linspace(0, 1, n, /*endpoint=*/false)) {
            const long i = long(std::nearbyint(beta_ppf(1 - x, 0.6, 0.6) * double(T - 1)));
            if (i != last) s.push_back(t.sigmas[size_t(i)]);
            last = i;
        }
        return with_zero(s);
    }
    if (name == "kl_optimal") {
        for (int i = 0; i <= n; ++i) {
            const double r = double(i) / double(n);
            s.push_back(std::tan(r * std::atan(smin) + (1 - r) * std::atan(smax)));
        }
        return s;
    }
    if (name == "comfy_kl_optimal") {
        if (n < 2) fail("--scheduler comfy_kl_optimal needs at least 2 steps, got ", n);
        for (int i = 0; i < n; ++i) {
            const double r = double(i) / double(n - 1);
            s.push_back(std::tan(r * std::atan(smin) + (1 - r) * std::atan(smax)));
        }
        return with_zero(s);
    }
    if (name == "linear_quadratic") {
        if (n == 1) return {smax, 0.0};
        const int L = n / 2, Q = n - L;
        const double d = double(L) - 0.025 * double(n);
        const double qc = d / (double(L) * double(Q) * double(Q)), lc = 0.025 / double(L) - 2 * d / (double(Q) * double(Q)),
                     c = qc * double(L) * double(L);
        std::vector<double> u;
        for (int i = 0; i < L; ++i) u.push_back(1 - double(i) * 0.025 / double(L));
        for (int i = L; i < n; ++i) u.push_back(1 - (qc * double(i) * double(i) + lc * double(i) + c));
        u.push_back(0.0);
        for (double v : u) s.push_back(v * smax);
        return s;
    }
    if (name == "align_your_steps") return align_your_steps(kAys15, n);
    if (name == "align_your_steps_sdxl") return align_your_steps(kAysXl, n);
    std::string valid;
    for (const std::string& v : sigma_schedule_names()) valid += (valid.empty() ? "" : ", ") + v;
    fail("--scheduler: unknown schedule \"", name, "\" (valid: discrete, trailing, ", valid, ")");
}

}  // namespace sdref
