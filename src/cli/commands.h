// commands.h: the subcommands of the sdref command, one file each.
#pragma once

namespace sdref::cli {

int cmd_generate(int argc, char** argv);  // sdref [-m MODEL] -p PROMPT [options]
int cmd_tokenize(int argc, char** argv);  // sdref tokenize [--pad-id N] [--tokenizer DIR] TEXT
int cmd_inspect(int argc, char** argv);   // sdref inspect FILE.safetensors
int cmd_serve(int argc, char** argv);     // sdref serve [-m MODEL] [--port N] ...
int cmd_upscale(int argc, char** argv);   // sdref upscale -i IN -o OUT --upscale-model FILE
int cmd_animate(int argc, char** argv);   // sdref animate -p PROMPT --frames N -o OUTDIR
int cmd_worker(int argc, char** argv);    // sdref worker --redis URL ...: jobs from a Redis Stream
int cmd_submit(int argc, char** argv);    // sdref submit --redis URL [generation flags] [--wait -o OUT.png]

}  // namespace sdref::cli
