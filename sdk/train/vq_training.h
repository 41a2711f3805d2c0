// Training Loom's own image tokenizer: `loom train` on a model.config whose
// model_type is janus_vqgan (transformers' JanusVQVAEConfig) runs this loop
// instead of the LM trainer. Single process.
//
// Data: data.train (and data.eval, held out) is a folder of images (png,
// jpg, bmp, gif; sorted) or a text file listing one image path per line.
// Each image is decoded to RGB, resized to the model's side (num_patches x
// 2^(levels - 1)) and scaled to [-1, 1]; a step trains on
// data.micro_batch_size images drawn with train.seed.
//
// Objective: reconstruction MSE of the decoder on the straight-through
// quantized latents + codebook loss + beta x commitment loss, AdamW with
// train.* (lr schedule, weight decay, clipping). The codebook rows are kept
// unit-length after every step, so the inference path (Encode -> codes ->
// Decode, which reads L2-normalised entries, as transformers' JanusVQVAE)
// decodes exactly what training reconstructed, and transformers loads the
// export and computes the same codes. Every 10 steps (until the last 10% of
// training) codes no batch used since the last check restart at random
// latents of the current batch, so the codebook does not collapse.
//
// Reports to the run store every train.log_every steps: loss, lr, grad norm,
// images/s (as tokens_per_s: codes per second), and in extra the
// reconstruction MSE, the VQ loss, the batch PSNR and the codes used; every
// train.eval_every steps and at the end: eval_psnr, the PSNR of
// Decode(Encode(image)) over data.eval (peak-to-peak 2: 10 log10(4 / MSE)).
// The final model goes to run.dir/run.name/final (config.json +
// model.safetensors, JanusVQVAE names).
#pragma once

#include <ostream>
#include <string>

#include "sdk/config/load_config.h"

namespace loom::train {

// True when the model.config file names model_type janus_vqgan.
bool IsVqConfig(const config::LoomConfig& cfg);

struct VqTrainingResult {
  int64_t run_id = 0;
  double final_eval_psnr = 0;  // dB; 0 without data.eval
};

VqTrainingResult RunVqTraining(const config::LoomConfig& cfg, std::ostream& log);

}  // namespace loom::train
