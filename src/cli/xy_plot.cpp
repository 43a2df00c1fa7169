#include "cli/xy_plot.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <random>

#include "app/params.h"
#include "core/error.h"

namespace sdref::cli {

namespace {

std::string trim(const std::string& s) {
    const size_t a = s.find_first_not_of(' '), b = s.find_last_not_of(' ');
    return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

constexpr const char* kLora = "lora:";

bool is_lora(const std::string& name) { return name.compare(0, 5, kLora) == 0; }

// The table's row for an axis name, or nullptr. Only rows whose value is one piece of text qualify: not images
// (a file per cell), lists (--lora: use the lora:NAME axis), on/off flags or the batch count (one picture a cell).
const Param<GenerationRequest>* axis_row(const std::string& name) {
    const Param<GenerationRequest>* p = find_flag(generation_params(), "--" + name);
    if (!p || !*p->metavar || name == "batch-count") return nullptr;
    GenerationRequest probe{};
    const ParamRef ref = p->ref(probe);
    if (std::holds_alternative<ImageInput*>(ref) || std::holds_alternative<std::vector<std::string>*>(ref)) return nullptr;
    return p;
}

}  // namespace

PlotAxis parse_axis(const std::string& spec, const std::string& flag) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) fail(flag, ": \"", spec, "\" is not AXIS=V1,V2,... (e.g. cfg-scale=3,7,12)");
    PlotAxis axis{flag, trim(spec.substr(0, eq)), {}};
    if (is_lora(axis.name) ? axis.name.size() == 5 : !axis_row(axis.name)) {
        std::string valid;
        for (const Param<GenerationRequest>& p : generation_params())
            if (p.flag && axis_row(p.flag + 2)) valid += std::string(valid.empty() ? "" : ", ") + (p.flag + 2);
        fail(flag, ": \"", axis.name, "\" is not an axis (valid: ", valid, ", lora:NAME)");
    }
    const std::string values = spec.substr(eq + 1);
    for (size_t at = 0; at <= values.size();) {
        const size_t comma = std::min(values.find(',', at), values.size());
        const std::string v = trim(values.substr(at, comma - at));
        if (v.empty()) fail(flag, " ", axis.name, ": an empty value in \"", values, "\"");
        axis.values.push_back(v);
        at = comma + 1;
    }
    return axis;
}

void apply_axis(GenerationRequest& r, const PlotAxis& axis, size_t k) {
    const std::string& v = axis.values.at(k);
    const std::string what = axis.flag + " " + axis.name;
    if (!is_lora(axis.name)) {
        const Param<GenerationRequest>& p = *axis_row(axis.name);
        set_param(p, r, v, what, Origin::Cli);
        return;
    }
    // lora:NAME: the weight of the --lora file named NAME, or of the prompt's <lora:NAME...> tag
    char* end = nullptr;
    errno = 0;
    const double w = std::strtod(v.c_str(), &end);
    if (*end != '\0' || !std::isfinite(w) || errno == ERANGE) fail(what, ": \"", v, "\" is not a number");
    const std::string name = axis.name.substr(5);
    bool found = false;
    for (std::string& l : r.loras) {
        const LoraSpec spec = parse_lora(l, "--lora");
        if (model_name_of(spec.path) != name) continue;
        l = spec.path + ":" + v;
        found = true;
    }
    const std::string tag = "<lora:" + name;
    for (size_t at = r.prompt.find(tag); at != std::string::npos; at = r.prompt.find(tag, at + 1)) {
        const size_t after = at + tag.size(), close = r.prompt.find('>', after);
        if (after >= r.prompt.size() || (r.prompt[after] != ':' && r.prompt[after] != '>') || close == std::string::npos) continue;
        // <lora:NAME> or <lora:NAME:W> -> <lora:NAME:V>
        r.prompt = r.prompt.substr(0, after) + ":" + v + r.prompt.substr(close);
        found = true;
    }
    if (!found) fail(what, ": no --lora file named ", name, " and no <lora:", name, ":W> tag in the prompt");
}

std::string axis_label(const PlotAxis& axis, size_t k) { return axis.name + ": " + axis.values.at(k); }

XYPlot XYPlot::make(GenerationRequest& r, const std::string& x_spec, const std::string& y_spec) {
    if (x_spec.empty()) fail("--y-axis needs --x-axis");
    if (r.images() != 1) fail("--x-axis: one picture per cell (no -b)");
    XYPlot plot{{parse_axis(x_spec, "--x-axis")}, {}, Font::load()};
    if (!y_spec.empty()) plot.axes.push_back(parse_axis(y_spec, "--y-axis"));
    for (const PlotAxis& a : plot.axes)  // (the cells would not tile: said before any is drawn)
        for (const char* sized : {"width", "height", "hires-scale", "hires-width", "hires-height", "outpaint"})
            if (a.name == sized && a.values.size() > 1) fail(a.flag, " ", a.name, ": the cells would differ in size; an X/Y plot needs one size");
    if (r.seed < 0) r.seed = int64_t(std::random_device{}() & 0x7fffffff);
    const size_t rows = plot.axes.size() > 1 ? plot.axes[1].values.size() : 1;
    for (size_t y = 0; y < rows; ++y)
        for (size_t x = 0; x < plot.axes[0].values.size(); ++x) {
            GenerationRequest c = r;
            apply_axis(c, plot.axes[0], x);
            if (plot.axes.size() > 1) apply_axis(c, plot.axes[1], y);
            plot.cells.push_back(c);
        }
    return plot;
}

void XYPlot::draw(Engine& engine, const std::string& path, const std::function<void(size_t, const Progress&)>& on_step) const {
    const size_t columns = axes[0].values.size();
    std::vector<Image> pictures;
    std::vector<std::pair<std::string, std::string>> text;
    for (size_t i = 0; i < cells.size(); ++i) {
        GenerationRequest c = cells[i];
        const std::vector<GeneratedImage> out = engine.run(c, [&](const Progress& p) { on_step(i, p); });
        if (out.empty()) fail("--x-axis: cell ", i + 1, " was not drawn");
        const Image& img = out[0].image;
        if (!pictures.empty() && (img.width != pictures[0].width || img.height != pictures[0].height))
            fail(axes.size() > 1 ? "--x-axis/--y-axis" : "--x-axis", ": the cells differ in size (", pictures[0].width, "x", pictures[0].height,
                 " and ", img.width, "x", img.height, "); an X/Y plot needs one size");
        pictures.push_back(img);
        if (i == 0) text.emplace_back("parameters", out[0].parameters);
        text.emplace_back("parameters " + std::to_string(i % columns + 1) + "," + std::to_string(i / columns + 1), out[0].parameters);
    }
    // the x axis's name above its values; "name: value" beside each row
    std::vector<std::string> y_labels;
    if (axes.size() > 1)
        for (size_t k = 0; k < axes[1].values.size(); ++k) y_labels.push_back(axis_label(axes[1], k));
    write_png(path, labelled_grid(pictures, int(columns), axes[0].values, y_labels, font, axes[0].name), text);
}

}  // namespace sdref::cli
