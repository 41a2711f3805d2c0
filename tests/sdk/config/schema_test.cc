// The schema table itself: well-formed rows, lookups, suggestions, and
// docs/config.md generated from it.
#include "sdk/config/schema.h"

#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

namespace loom::config {
namespace {

TEST(Schema, RowsAreWellFormedAndUnique) {
  std::set<std::string> names;
  const auto sections = ConfigSections();
  EXPECT_EQ(sections, (std::vector<std::string>{"model", "data", "train", "run", "parallel"}));
  for (const auto& key : ConfigSchema()) {
    EXPECT_TRUE(names.insert(key.name).second) << "duplicate key " << key.name;
    EXPECT_FALSE(key.leaf().empty()) << key.name;
    EXPECT_GT(std::string(key.doc).size(), 5u) << key.name;
    // Every default satisfies its own constraints.
    LoomConfig cfg;
    EXPECT_NO_THROW(SetFromString(key, cfg, FormatValue(key, LoomConfig{}), "test")) << key.name;
    if (!key.choices.empty()) {
      EXPECT_EQ(key.type(), KeyType::kString) << key.name;
    }
  }
  EXPECT_GE(names.size(), 42u);
}

TEST(Schema, BindsDistinctFields) {
  LoomConfig cfg;
  std::set<const void*> fields;
  for (const auto& key : ConfigSchema()) {
    std::visit([&](auto* p) { EXPECT_TRUE(fields.insert(p).second) << key.name; }, key.bind(cfg));
  }
}

TEST(Schema, FindAndNearest) {
  ASSERT_NE(FindKey("train.lr"), nullptr);
  EXPECT_EQ(FindKey("train.lr")->type(), KeyType::kFloat);
  EXPECT_EQ(FindKey("train.steps")->type(), KeyType::kInt);
  EXPECT_EQ(FindKey("model.tie_word_embeddings")->type(), KeyType::kBool);
  EXPECT_EQ(FindKey("train"), nullptr);
  EXPECT_EQ(NearestKey("train.lrr"), "train.lr");
  EXPECT_EQ(NearestKey("data.seqlen"), "data.seq_len");
  EXPECT_EQ(NearestKey("micro_batch_size"), "data.micro_batch_size");
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
}

TEST(Schema, FormatValueRoundTrips) {
  LoomConfig cfg;
  for (double v : {3e-4, 0.1, 1.0 / 3.0, 1e6, 1e-8, 123456.789}) {
    cfg.train.lr = v;
    SetFromString(*FindKey("train.lr"), cfg, FormatValue(*FindKey("train.lr"), cfg), "t");
    EXPECT_EQ(cfg.train.lr, v);
  }
  EXPECT_EQ(FormatValue(*FindKey("train.lr"), LoomConfig{}), "0.0003");
}

TEST(ConfigDoc, DocsConfigMdMatchesSchema) {
  std::ifstream in(LOOM_SOURCE_DIR "/docs/config.md");
  ASSERT_TRUE(in) << "docs/config.md is missing; run `loom config --doc > docs/config.md`";
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), ConfigDocMarkdown())
      << "docs/config.md is stale; regenerate it with `loom config --doc > docs/config.md`";
  for (const auto& key : ConfigSchema()) {
    EXPECT_NE(text.str().find(std::string("`") + key.name + "`"), std::string::npos) << key.name;
  }
}

}  // namespace
}  // namespace loom::config
