// PackedLoader invariants on a synthetic dataset (documents of varied length,
// many longer than a row) and on the real novel: labels, positions, doc ids,
// padding, data-rank sharding and exact resumption.
#include "sdk/data/packing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "ops/base/error.h"
#include "sdk/data/dataset_builder.h"
#include "sdk/data/prefetch.h"
#include "tests/sdk/data/test_assets.h"

namespace loom::data {
namespace {

constexpr int32_t kEos = 1000;  // synthetic tokens are < kEos

// 37 documents with lengths 1..60 (+ eos); token values encode (doc, index).
std::string MakeSyntheticDataset() {
  const std::string prefix = loom::testing::TempDir("synthetic") + "/ds";
  TokenDatasetInfo info;
  info.vocab_size = kEos + 1;
  info.eos_id = kEos;
  info.source = "synthetic";
  TokenDatasetWriter writer(prefix, info);
  for (int d = 0; d < 37; ++d) {
    std::vector<int32_t> doc(static_cast<size_t>(1 + (d * 23) % 60));
    for (size_t i = 0; i < doc.size(); ++i) doc[i] = static_cast<int32_t>((d * 61 + static_cast<int>(i) * 7) % kEos);
    writer.Append(doc);
  }
  writer.Finish();
  return prefix;
}

std::vector<int64_t> Row(const at::Tensor& t, int64_t r) {
  const auto row = t[r].contiguous();
  return std::vector<int64_t>(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
}

// Checks one row on its own: doc ids count up from 0 where positions restart,
// labels are the next input within a piece, eos positions take no loss,
// padding is (eos, -100, 0, -1) and only at the end.
void CheckRow(const PackedBatch& b, int64_t r, int32_t eos) {
  const auto in = Row(b.input_ids, r), lab = Row(b.labels, r), pos = Row(b.position_ids, r), doc = Row(b.doc_ids, r);
  bool padding = false;
  for (size_t t = 0; t < in.size(); ++t) {
    if (doc[t] == -1) {
      padding = true;
      EXPECT_EQ(in[t], eos);
      EXPECT_EQ(lab[t], kIgnoreIndex);
      EXPECT_EQ(pos[t], 0);
      continue;
    }
    ASSERT_FALSE(padding) << "document after padding at " << t;
    const bool starts = t == 0 || doc[t] != doc[t - 1];
    EXPECT_EQ(pos[t], starts ? 0 : pos[t - 1] + 1) << t;
    EXPECT_EQ(doc[t], t == 0 ? 0 : doc[t - 1] + (starts ? 1 : 0)) << t;
    if (in[t] == eos) {
      EXPECT_EQ(lab[t], kIgnoreIndex) << "label crosses a document at " << t;
      EXPECT_TRUE(t + 1 == in.size() || doc[t + 1] != doc[t]) << "eos inside a document at " << t;
    } else if (t + 1 < in.size() && doc[t + 1] == doc[t]) {
      EXPECT_EQ(lab[t], in[t + 1]) << t;
    }
  }
}

class PackingTest : public ::testing::Test {
 protected:
  void SetUp() override { ds_ = std::make_unique<TokenDataset>(TokenDataset::Open(MakeSyntheticDataset())); }
  std::unique_ptr<TokenDataset> ds_;
};

TEST_F(PackingTest, RowsFormTheShuffledDocumentStream) {
  const int64_t T = 16, B = 3;
  PackedLoader loader(*ds_, T, B, /*seed=*/7);
  // Flatten 3 epochs' worth of rows; every row boundary inside a document must
  // carry the document on (label = next row's first token).
  std::vector<int64_t> inputs, labels;
  const int64_t batches = 3 * ds_->n_tokens() / (T * B) + 1;
  for (int64_t i = 0; i < batches; ++i) {
    const auto b = loader.Next();
    ASSERT_EQ(b.rows(), B);
    ASSERT_EQ(b.seq_len(), T);
    ASSERT_EQ(b.input_ids.scalar_type(), at::kLong);
    for (int64_t r = 0; r < B; ++r) {
      CheckRow(b, r, kEos);
      EXPECT_NE(Row(b.doc_ids, r).back(), -1);  // rows are full: no padding
      const auto in = Row(b.input_ids, r), lab = Row(b.labels, r);
      inputs.insert(inputs.end(), in.begin(), in.end());
      labels.insert(labels.end(), lab.begin(), lab.end());
    }
  }
  for (size_t t = 0; t + 1 < inputs.size(); ++t) {
    EXPECT_EQ(labels[t], inputs[t] == kEos ? kIgnoreIndex : inputs[t + 1]) << t;
  }
  // Each epoch is a permutation of the documents, and epochs differ in order.
  std::vector<std::vector<int32_t>> orders[3];
  std::map<std::vector<int32_t>, int> want;
  for (int64_t d = 0; d < ds_->n_docs(); ++d) ++want[std::vector<int32_t>(ds_->Doc(d).begin(), ds_->Doc(d).end())];
  size_t at = 0;
  for (auto& order : orders) {
    std::map<std::vector<int32_t>, int> seen;
    for (int64_t d = 0; d < ds_->n_docs(); ++d) {
      std::vector<int32_t> doc;
      do doc.push_back(static_cast<int32_t>(inputs[at])); while (inputs[at++] != kEos);
      ++seen[doc];
      order.push_back(doc);
    }
    EXPECT_EQ(seen, want);
  }
  EXPECT_NE(orders[0], orders[1]);
  EXPECT_NE(orders[1], orders[2]);
}

TEST_F(PackingTest, DataRanksAreDisjointAndTogetherEqualOneRank) {
  const int64_t T = 24, B = 2;
  PackedLoader one(*ds_, T, B, /*seed=*/3);
  PackedLoader rank0(*ds_, T, B, 3, /*data_rank=*/0, /*data_world=*/2);
  PackedLoader rank1(*ds_, T, B, 3, 1, 2);
  for (int step = 0; step < 20; ++step) {
    const auto a = one.Next(), b = one.Next();  // global rows 4*step .. 4*step+3
    const auto r0 = rank0.Next(), r1 = rank1.Next();
    const std::vector<std::pair<const PackedBatch*, int64_t>> global = {{&a, 0}, {&a, 1}, {&b, 0}, {&b, 1}};
    for (int64_t j = 0; j < B; ++j) {
      for (at::Tensor PackedBatch::*field : {&PackedBatch::input_ids, &PackedBatch::labels, &PackedBatch::position_ids,
                                             &PackedBatch::doc_ids}) {
        // Global row (step*B + j)*2 + rank.
        const auto& [g0, i0] = global[static_cast<size_t>(j * 2)];
        const auto& [g1, i1] = global[static_cast<size_t>(j * 2 + 1)];
        EXPECT_EQ(Row(r0.*field, j), Row(g0->*field, i0)) << "step " << step << " row " << j;
        EXPECT_EQ(Row(r1.*field, j), Row(g1->*field, i1)) << "step " << step << " row " << j;
      }
      EXPECT_NE(Row(r0.input_ids, j), Row(r1.input_ids, j));
    }
  }
}

TEST_F(PackingTest, SeekResumesExactly) {
  PackedLoader a(*ds_, 20, 2, 11, 1, 3);
  std::vector<PackedBatch> seen;
  for (int i = 0; i < 12; ++i) seen.push_back(a.Next());
  EXPECT_EQ(a.position(), 12);
  PackedLoader b(*ds_, 20, 2, 11, 1, 3);
  for (int64_t p : {7, 0, 11, 3}) {
    b.Seek(p);
    EXPECT_EQ(b.position(), p);
    const auto got = b.Next();
    EXPECT_TRUE(at::equal(got.input_ids, seen[static_cast<size_t>(p)].input_ids)) << p;
    EXPECT_TRUE(at::equal(got.labels, seen[static_cast<size_t>(p)].labels)) << p;
    EXPECT_TRUE(at::equal(got.position_ids, seen[static_cast<size_t>(p)].position_ids)) << p;
    EXPECT_TRUE(at::equal(got.doc_ids, seen[static_cast<size_t>(p)].doc_ids)) << p;
  }
  PackedLoader other_seed(*ds_, 20, 2, 12, 1, 3);
  EXPECT_FALSE(at::equal(other_seed.Next().input_ids, seen[0].input_ids));
}

TEST_F(PackingTest, FiniteEpochsEndWithPadding) {
  const int64_t T = 50, B = 4;
  PackedLoader loader(*ds_, T, B, 5, 0, 1, /*epochs=*/2);
  int64_t real = 0, pad = 0;
  while (!loader.done()) {
    const auto b = loader.Next();
    for (int64_t r = 0; r < B; ++r) CheckRow(b, r, kEos);
    real += b.doc_ids.ge(0).sum().item<int64_t>();
    pad += b.doc_ids.eq(-1).sum().item<int64_t>();
  }
  EXPECT_EQ(real, 2 * ds_->n_tokens());
  EXPECT_GT(pad, 0);
  EXPECT_LT(pad, T * B);
  EXPECT_THROW(loader.Next(), loom::Error);
}

TEST_F(PackingTest, BadArgumentsAreConfigErrors) {
  EXPECT_THROW(PackedLoader(*ds_, 0, 1, 0), loom::ConfigError);
  EXPECT_THROW(PackedLoader(*ds_, 8, 0, 0), loom::ConfigError);
  EXPECT_THROW(PackedLoader(*ds_, 8, 1, 0, 2, 2), loom::ConfigError);
  EXPECT_THROW(PackedLoader(*ds_, 8, 1, 0, 0, 0), loom::ConfigError);
}

TEST(PackingNovelTest, RealDatasetRowsKeepDocumentsApart) {
  const auto tokenizer = Tokenizer::FromFile(loom::testing::Qwen3TokenizerPath());
  DatasetBuildOptions options;
  options.inputs = {loom::testing::NovelPath()};
  options.output = loom::testing::TempDir("novel") + "/novel";
  BuildTokenDataset(tokenizer, options);
  const auto ds = TokenDataset::Open(options.output);
  PackedLoader loader(ds, 512, 4, 1234, 0, 2);
  for (int i = 0; i < 10; ++i) {
    const auto b = loader.Next();
    for (int64_t r = 0; r < b.rows(); ++r) CheckRow(b, r, tokenizer.eos_id());
  }
}

}  // namespace
}  // namespace loom::data

namespace loom::data {
namespace {

// A stream that fails on its `fail_at`-th batch (0-based).
class FailingStream : public BatchStream {
 public:
  FailingStream(std::unique_ptr<BatchStream> inner, int64_t fail_at) : inner_(std::move(inner)), fail_at_(fail_at) {}
  PackedBatch Next() override {
    if (inner_->position() == fail_at_) throw DataError("bad.png: cannot decode the image");
    return inner_->Next();
  }
  bool done() const override { return inner_->done(); }
  int64_t position() const override { return inner_->position(); }
  void Seek(int64_t p) override { inner_->Seek(p); }

 private:
  std::unique_ptr<BatchStream> inner_;
  int64_t fail_at_;
};

TEST_F(PackingTest, PrefetchGivesTheSameBatchesSeeksAndRethrows) {
  for (int depth : {1, 3}) {
    PackedLoader plain(*ds_, 16, 2, 5, 0, 1, 2);
    PrefetchStream ahead(std::make_unique<PackedLoader>(*ds_, 16, 2, 5, 0, 1, 2), depth);
    int64_t n = 0;
    while (!plain.done()) {
      ASSERT_FALSE(ahead.done()) << "batch " << n;
      const auto a = plain.Next(), b = ahead.Next();
      EXPECT_TRUE(a.input_ids.equal(b.input_ids)) << "depth " << depth << " batch " << n;
      EXPECT_TRUE(a.labels.equal(b.labels));
      ++n;
      EXPECT_EQ(ahead.position(), n);
    }
    EXPECT_TRUE(ahead.done()) << "a finite stream ends in step";
    EXPECT_THROW(ahead.Next(), Error);
    EXPECT_GT(n, 5);
    // Seek drops what was prefetched.
    ahead.Seek(2);
    PackedLoader at2(*ds_, 16, 2, 5, 0, 1, 2);
    at2.Seek(2);
    EXPECT_TRUE(ahead.Next().input_ids.equal(at2.Next().input_ids));
    EXPECT_EQ(ahead.position(), 3);
  }
  // An error in the background reaches the Next() of that batch, after the good ones.
  PrefetchStream failing(std::make_unique<FailingStream>(std::make_unique<PackedLoader>(*ds_, 16, 2, 5), 2), 2);
  failing.Next();
  failing.Next();
  try {
    failing.Next();
    ADD_FAILURE() << "the error was lost";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.png"), std::string::npos);
  }
}

}  // namespace
}  // namespace loom::data
