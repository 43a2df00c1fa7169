// xy_plot.h: sdref --x-axis/--y-axis: one generation per cell over one or two parameters, as A1111's X/Y/Z plot
// script does. An axis is "AXIS=V1,V2,...": AXIS is a generation flag without its dashes (sampling-method, steps,
// cfg-scale, seed, strength, clip-skip, scheduler, model...), set in each cell through the parameter table, so
// its values are checked as the flag's are; or "lora:NAME", the weight of the LoRA NAME (given by --lora or a
// <lora:NAME:W> tag in the prompt).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "app/engine.h"
#include "app/request.h"
#include "pipeline/grid.h"

namespace sdref::cli {

struct PlotAxis {
    std::string flag;                 // "--x-axis" or "--y-axis", for errors
    std::string name;                 // "cfg-scale", "lora:NAME"
    std::vector<std::string> values;  // as given
};

// "AXIS=V1,V2,..." -> the axis; an unknown AXIS or no values is an error naming `flag`.
PlotAxis parse_axis(const std::string& spec, const std::string& flag);

// `r` with the axis at its k-th value; a bad value is an error naming the flag, the axis and the value.
void apply_axis(GenerationRequest& r, const PlotAxis& axis, size_t k);

// The label of the k-th value: "cfg-scale: 7".
std::string axis_label(const PlotAxis& axis, size_t k);

// A plot's cells, row by row: `r` with the x axis's value (and the y axis's); every cell's request is made, and so
// checked, before the first is drawn, and r's seed is settled so that every cell shares it.
struct XYPlot {
    std::vector<PlotAxis> axes;             // x, then y when given
    std::vector<GenerationRequest> cells;   // [rows * columns]
    Font font;                              // for the labels (loaded first: a missing font stops nothing half-way)

    static XYPlot make(GenerationRequest& r, const std::string& x_spec, const std::string& y_spec);
    // Draw every cell with `engine` and write the labelled plot to `path`, with the first cell's parameters as
    // "parameters" and every cell's as "parameters X,Y". on_step gets the cell's index too.
    void draw(Engine& engine, const std::string& path, const std::function<void(size_t, const Progress&)>& on_step) const;
};

}  // namespace sdref::cli
