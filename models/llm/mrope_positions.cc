#include "models/llm/mrope_positions.h"

#include <algorithm>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "models/core/image_grid.h"
#include "ops/base/error.h"

namespace loom::models {
namespace {

// The grids still to place, shared across documents (HF's image_index/video_index).
struct Queue {
  const std::vector<ImageGrid>& grids;
  size_t next = 0;
  const char* what;
};

// Positions (3 rows) of one document's tokens [begin, end) of `ids`, written
// at the same offsets into t/h/w.
void PositionDocument(const int64_t* ids, int64_t begin, int64_t end, const MropeTokens& tok, int64_t merge,
                      Queue& images, Queue& videos, int64_t row, int64_t* t_out, int64_t* h_out, int64_t* w_out) {
  int64_t next_pos = 0;  // the max position so far + 1
  int64_t st = begin;
  const auto put_text = [&](int64_t from, int64_t to) {
    for (int64_t i = from; i < to; ++i) t_out[i] = h_out[i] = w_out[i] = next_pos + (i - from);
    if (to > from) next_pos += to - from;
  };
  // Count the images and videos this document announces (vision_start + token).
  int64_t image_count = 0, video_count = 0;
  for (int64_t i = begin; i + 1 < end; ++i) {
    if (ids[i] != tok.vision_start_token_id) continue;
    image_count += ids[i + 1] == tok.image_token_id;
    video_count += ids[i + 1] == tok.video_token_id;
  }
  const auto find = [&](int64_t token, int64_t from) {
    for (int64_t i = from; i < end; ++i) {
      if (ids[i] == token) return i;
    }
    return end + 1;
  };
  const int64_t announced = image_count + video_count;  // the counts below count down
  for (int64_t k = 0; k < announced; ++k) {
    const int64_t ed_image = image_count > 0 ? find(tok.image_token_id, st) : end + 1;
    const int64_t ed_video = video_count > 0 ? find(tok.video_token_id, st) : end + 1;
    const bool is_image = ed_image < ed_video;
    Queue& q = is_image ? images : videos;
    const int64_t ed = is_image ? ed_image : ed_video;
    (is_image ? image_count : video_count)--;
    if (q.next >= q.grids.size()) {
      throw ConfigError(ErrorWithFix("row " + std::to_string(row) + " has more " + q.what + "s than " + q.what +
                                         "_grid_thw rows (" + std::to_string(q.grids.size()) + ")",
                                     "pass one grid per " + std::string(q.what) + ", in order"));
    }
    const ImageGrid g = q.grids[q.next];
    const int64_t gt = g.t, gh = g.h / merge, gw = g.w / merge, n = gt * gh * gw;
    const int64_t token = is_image ? tok.image_token_id : tok.video_token_id;
    if (ed + n > end || std::any_of(ids + ed, ids + ed + n, [&](int64_t x) { return x != token; })) {
      throw ConfigError(ErrorWithFix(std::string(q.what) + " " + std::to_string(q.next) + " (grid " +
                                         std::to_string(g.t) + "x" + std::to_string(g.h) + "x" +
                                         std::to_string(g.w) + ") needs " + std::to_string(n) +
                                         " consecutive placeholder tokens at row " + std::to_string(row) +
                                         " position " + std::to_string(ed),
                                     "insert t*(h/merge)*(w/merge) placeholder tokens per " + std::string(q.what)));
    }
    ++q.next;
    put_text(st, ed);
    const int64_t base = next_pos;
    int64_t max_pos = base - 1;
    for (int64_t f = 0; f < gt; ++f) {
      for (int64_t r = 0; r < gh; ++r) {
        for (int64_t c = 0; c < gw; ++c) {
          const int64_t i = ed + (f * gh + r) * gw + c;
          t_out[i] = base + f, h_out[i] = base + r, w_out[i] = base + c;
          max_pos = std::max({max_pos, base + f, base + r, base + c});
        }
      }
    }
    next_pos = max_pos + 1;
    st = ed + n;
  }
  put_text(st, end);
}

}  // namespace

at::Tensor MropePositionIds(const at::Tensor& input_ids, const at::Tensor& image_grid_thw,
                            const at::Tensor& video_grid_thw, const MropeTokens& tokens, int64_t spatial_merge_size,
                            const at::Tensor& doc_ids) {
  const auto ids = input_ids.to(at::kCPU, at::kLong).contiguous();
  const int64_t b = ids.size(0), t = ids.size(1);
  at::Tensor docs = doc_ids.defined() ? doc_ids.to(at::kCPU, at::kLong).contiguous() : at::zeros({b, t}, at::kLong);
  auto out = at::ones({3, b, t}, at::kLong);
  const auto image_grids = ReadImageGrids(image_grid_thw), video_grids = ReadImageGrids(video_grid_thw);
  Queue images{image_grids, 0, "image"}, videos{video_grids, 0, "video"};
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t r = 0; r < b; ++r) {
    const int64_t* row_ids = ids.data_ptr<int64_t>() + r * t;
    const int64_t* row_docs = docs.data_ptr<int64_t>() + r * t;
    for (int64_t s = 0; s < t;) {
      int64_t e = s + 1;
      while (e < t && row_docs[e] == row_docs[s]) ++e;
      if (row_docs[s] >= 0) {
        PositionDocument(row_ids, s, e, tokens, spatial_merge_size, images, videos, r, o + r * t, o + (b + r) * t,
                         o + (2 * b + r) * t);
      }
      s = e;
    }
  }
  if (images.next != image_grids.size() || videos.next != video_grids.size()) {
    throw ConfigError(ErrorWithFix("the rows place " + std::to_string(images.next) + " of " +
                                       std::to_string(image_grids.size()) + " image grids and " +
                                       std::to_string(videos.next) + " of " + std::to_string(video_grids.size()) +
                                       " video grids",
                                   "precede each image's placeholder tokens with vision_start_token_id"));
  }
  return out.to(input_ids.device());
}

}  // namespace loom::models
