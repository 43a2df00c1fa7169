// engine.h: what the command and the server share below their front ends. An Engine keeps one model resident
// (with its LoRAs, embeddings, hypernetworks and VAE merged in), resolves the names a request gives, turns a
// GenerationRequest into GenerationParams and runs every image of it, with A1111's PNG parameters for each.
//
//   request -> resolve names (paths on the command line; inside the folders only for the API)
//           -> inputs: init image, mask (inverted, filled), outpaint canvas, control images (Canny)
//           -> the resident model, reloaded only when the request needs different files
//           -> per image: generate() -> safety checker -> PNG parameters
//
// One request at a time: the server queues them (server.h).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/params.h"
#include "app/request.h"
#include "loader/checkpoint.h"
#include "models/controlnet.h"
#include "pipeline/generate.h"
#include "pipeline/hires.h"
#include "pipeline/outpaint.h"
#include "pipeline/preview.h"
#include "safety/safety_checker.h"

namespace sdref {

struct EngineOptions {
    Folders folders;
    Origin origin = Origin::Cli;   // Cli: names may be paths; Api: only names listed in the folders are opened
    std::string default_model;     // used when a request names none
    std::string safety_checker;    // a checker for every image (a model folder's own safety_checker/ otherwise)
    bool no_safety_checker = false;
    bool verbose = false;          // load report and unused tensors on stderr
    std::string preview_taesd;     // live previews (preview_image) decoded with this TAESD; "": the latent-to-RGB map
};

struct GeneratedImage {
    Image image;
    int64_t seed = 0;
    std::string parameters;  // A1111's infotext, for the PNG's "parameters" chunk
    bool nsfw = false;       // flagged by the safety checker (and blacked out)
    GenerationResult result; // latents [4, h, w] before decoding, the decoded image, timings
};

struct Progress {
    int64_t image, images;  // 0-based image, total
    int step, steps;        // 1-based step of this image
    const Tensor& latents;
};

// Thrown from a progress callback to stop: run() returns the images finished before it.
struct Interrupted {};

// "FILE[:WEIGHT]" (--lora) -> the file and its weight (1 when no number follows the last colon); errors name `what`.
LoraSpec parse_lora(const std::string& text, const std::string& what);

class Engine {
public:
    explicit Engine(EngineOptions options);

    // Every image of the request. `r` is completed on the way (seed chosen, size from the model, prompt tags
    // resolved) so the caller can echo what was used.
    std::vector<GeneratedImage> run(GenerationRequest& r, const std::function<void(const Progress&)>& on_step = {});

    // Make `name` (a checkpoint in the models folder; Cli: also a path) the resident model; "" the default.
    void select_model(const std::string& name);
    // The resident model's file or folder ("" before the first load) and its latent preview.
    const std::string& model_path() const { return model_path_; }
    const StableDiffusionModel& model();
    const LatentPreview& preview();
    // A live preview of the latents: EngineOptions::preview_taesd's decode (the picture's size), else preview()'s
    // map (one pixel per latent pixel, an eighth of the picture's size).
    Image preview_image(const Tensor& latents);
    // Fit a fitted preview to a finished picture of the resident model (its latents and decoded image), so that
    // it follows what the model really draws; published factors stay as they are. run() does it after each
    // picture once preview() has been asked for.
    void refit_preview(const Tensor& latents, const Tensor& image) {
        if (preview().fitted && image.numel() > 0) preview_ = LatentPreview::fit(latents, image);
    }

    // What the folders hold: (name, path) for each checkpoint, LoRA, embedding, hypernetwork, ControlNet, VAE.
    using Listing = std::vector<std::pair<std::string, std::string>>;
    Listing list_models() const { return listing(options_.folders.models, true); }
    Listing list_loras() const { return listing(options_.folders.loras, false); }
    Listing list_embeddings() const { return listing(options_.folders.embeddings, false); }
    Listing list_hypernetworks() const { return listing(options_.folders.hypernetworks, false); }
    Listing list_controlnets() const { return listing(options_.folders.controlnets, true); }
    Listing list_vaes() const { return listing(options_.folders.vaes, true); }
    Listing list_upscalers() const { return listing(options_.folders.upscalers, false); }
    // A Real-ESRGAN network by name (Cli: a path; Api: an entry of --upscaler-dir), loaded once and kept.
    const Upscaler& upscaler_named(const std::string& name, const std::string& what);
    const EngineOptions& options() const { return options_; }

private:
    // The pictures a request brings, read before any model is loaded.
    struct Inputs {
        Image init, mask, original;     // init image and mask as generate() gets them; outpainting: the picture extended
        OutpaintMargins margins;
        std::vector<Image> control_images;  // one per ControlNet unit (Canny edges when its module says so)
    };
    // run()'s stages, in order (engine.cpp says what each does)
    void settle(GenerationRequest& r) const;
    CheckpointOverrides addons_of(GenerationRequest& r, std::string* prompt) const;
    void check_flags(GenerationRequest& r) const;
    Inputs read_inputs(GenerationRequest& r) const;
    const StableDiffusionModel& models_for(GenerationRequest& r, const CheckpointOverrides& o, const Inputs& in, GenerationParams& p);
    void fill_params(const GenerationRequest& r, const Inputs& in, GenerationParams& p) const;
    void check_with_models(GenerationRequest& r, const StableDiffusionModel& model, const GenerationParams& p, const HiresFix& hires) const;
    GeneratedImage finish(const GenerationRequest& r, const Inputs& in, GenerationResult g, uint64_t seed, const std::string& model_path,
                          const std::string& addons) const;

    static Listing listing(const std::string& folder, bool with_folders);
    // A file a request names: a path (Cli), else an entry of `folder` by name ("x", "x.safetensors",
    // "x.safetensors [hash]"); errors name `what` (the flag or field) and the folder.
    std::string resolve(const std::string& name, const std::string& folder, const char* folder_flag, const std::string& what,
                        bool with_folders) const;
    // A checkpoint by name: the default model's, else resolve() in the models folder.
    std::string model_named(const std::string& name, const std::string& what) const;
    std::string name_of(const void* member, GenerationRequest& r) const;
    // The hires fix's second pass as `r` asks for it (its size settled; errors name the flags or fields).
    HiresFix hires_of(GenerationRequest& r);
    const StableDiffusionModel& load(const std::string& path, const CheckpointOverrides& o);
    // A TAESD file, loaded once and kept, for `model`'s latents (channels and family checked; errors name `what`).
    const Taesd& taesd_for(const std::string& path, const StableDiffusionModel& model, const std::string& what);

    std::string addon_parameters(const CheckpointOverrides& o);
    const std::string& hash(const std::string& path, bool addnet);

    EngineOptions options_;
    std::optional<StableDiffusionModel> model_, refiner_;
    std::string model_path_, refiner_path_;
    std::string model_key_;                       // the files the resident model was loaded with
    std::optional<LatentPreview> preview_;
    std::map<std::string, std::unique_ptr<Taesd>> taesds_;
    std::map<std::string, std::unique_ptr<Upscaler>> upscalers_;
    std::map<std::string, std::unique_ptr<ControlNet>> controlnets_;
    std::optional<SafetyChecker> checker_;
    std::string checker_path_;
    std::map<std::string, std::string> hashes_;   // "addnet:" or "file:" + path -> sha256
};

}  // namespace sdref
