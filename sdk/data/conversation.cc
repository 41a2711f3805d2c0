#include "sdk/data/conversation.h"

#include <filesystem>

#include "ops/base/error.h"

namespace loom::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

[[noreturn]] void Bad(const std::string& where, const std::string& what, const std::string& fix) {
  throw DataError(ErrorWithFix(where + ": " + what, fix));
}

std::string StringField(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_string()) Bad(where, std::string("\"") + key + "\" is not a string", "give it as text");
  return j[key].get<std::string>();
}

std::string MediaPath(const std::string& path, const std::string& base_dir) {
  return fs::path(path).is_absolute() || base_dir.empty() ? path : (fs::path(base_dir) / path).string();
}

// One rendered piece: a special token, plain text, or a media placeholder run.
struct Piece {
  enum class Kind { kSpecial, kText, kMedia } kind;
  std::string text;  // the token, the text, or the media path
  bool trainable = false;
  MediaKind media = MediaKind::kImage;
};

std::vector<Piece> Render(const Conversation& c, const ChatTemplate& t) {
  std::vector<Piece> out;
  const auto special = [&](const std::string& token, bool trainable = false) {
    out.push_back({Piece::Kind::kSpecial, token, trainable});
  };
  const auto text = [&](const std::string& s, bool trainable = false) {
    if (!s.empty()) out.push_back({Piece::Kind::kText, s, trainable});
  };
  if (!t.default_system.empty() && (c.messages.empty() || c.messages.front().role != "system")) {
    special("<|im_start|>");
    text("system\n" + t.default_system);
    special("<|im_end|>");
    text("\n");
  }
  for (const auto& m : c.messages) {
    const bool reply = m.role == "assistant";
    special("<|im_start|>");
    text(m.role + "\n");
    for (const auto& part : m.content) {
      if (!part.is_media) {
        text(part.text, reply);
        continue;
      }
      const bool image = part.kind != MediaKind::kAudio, drawn = part.kind == MediaKind::kImageOut;
      special(image ? t.vision_start : t.audio_start, drawn);
      out.push_back({Piece::Kind::kMedia, part.text, drawn, part.kind});
      special(image ? t.vision_end : t.audio_end, drawn);
    }
    special("<|im_end|>", reply);
    text("\n");
  }
  return out;
}

int32_t SpecialId(const Tokenizer& tok, const std::string& token) {
  const auto id = tok.TokenToId(token);
  if (!id) {
    throw ConfigError(ErrorWithFix("the tokenizer " + tok.path() + " has no token " + token,
                                   "use a tokenizer with ChatML and media tokens, or set the chat template's markers to "
                                   "tokens it has"));
  }
  return *id;
}

}  // namespace

Conversation ParseConversation(const json& j, const std::string& base_dir, const std::string& where) {
  if (!j.is_object()) Bad(where, "a sample is not a JSON object", "write one object per line");
  Conversation c;
  if (!j.contains("messages") && j.contains("target_image")) {  // text to image
    c.messages.push_back({"user", {{false, MediaKind::kImage, StringField(j, "prompt", where)}}});
    c.messages.push_back({"assistant", {{true, MediaKind::kImageOut, MediaPath(StringField(j, "target_image", where), base_dir)}}});
    return c;
  }
  if (!j.contains("messages")) {  // the pair formats
    const bool image = j.contains("image") && j.contains("caption");
    const bool audio = j.contains("audio") && j.contains("transcript");
    if (image == audio) {
      Bad(where, "a sample needs \"messages\", or \"image\" + \"caption\", \"audio\" + \"transcript\" or \"prompt\" + \"target_image\"",
          "see docs/data.md for the formats");
    }
    ContentPart media{true, image ? MediaKind::kImage : MediaKind::kAudio,
                      MediaPath(StringField(j, image ? "image" : "audio", where), base_dir)};
    c.messages.push_back({"user", {media}});
    c.messages.push_back({"assistant", {{false, MediaKind::kImage, StringField(j, image ? "caption" : "transcript", where)}}});
    return c;
  }
  if (!j["messages"].is_array() || j["messages"].empty()) Bad(where, "\"messages\" is not a non-empty list", "list the turns");
  for (const auto& m : j["messages"]) {
    Message msg;
    msg.role = m.is_object() ? StringField(m, "role", where) : "";
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant") {
      Bad(where, "a message has role '" + msg.role + "'", "use system, user or assistant");
    }
    if (!m.contains("content")) Bad(where, "a " + msg.role + " message has no \"content\"", "add its content");
    const json& content = m["content"];
    if (content.is_string()) {
      msg.content.push_back({false, MediaKind::kImage, content.get<std::string>()});
    } else if (content.is_array()) {
      for (const auto& part : content) {
        const std::string type = part.is_object() ? part.value("type", std::string()) : "";
        if (type == "text") {
          msg.content.push_back({false, MediaKind::kImage, StringField(part, "text", where)});
        } else if (type == "image" || type == "audio") {
          const bool image = type == "image";
          const MediaKind kind = !image ? MediaKind::kAudio : msg.role == "assistant" ? MediaKind::kImageOut : MediaKind::kImage;
          msg.content.push_back({true, kind,
                                 MediaPath(StringField(part, image ? "image" : "audio", where), base_dir)});
        } else {
          Bad(where, "a content part has type '" + type + "'", "use text, image or audio");
        }
      }
    } else {
      Bad(where, "a message's \"content\" is neither text nor a list of parts", "see docs/data.md for the format");
    }
    c.messages.push_back(std::move(msg));
  }
  bool reply = false;
  for (const auto& m : c.messages) reply |= m.role == "assistant";
  if (!reply) Bad(where, "the conversation has no assistant turn, so nothing to learn", "add the assistant's reply");
  return c;
}

std::string RenderChat(const Conversation& c, const ChatTemplate& t) {
  std::string s;
  for (const auto& p : Render(c, t)) {
    s += p.kind != Piece::Kind::kMedia ? p.text : p.media != MediaKind::kAudio ? t.image_pad : t.audio_pad;
  }
  return s;
}

ChatTokens TokenizeChat(const Conversation& c, const Tokenizer& tok, const ChatTemplate& t,
                        c10::function_ref<int64_t(const ContentPart&)> media_tokens) {
  const auto pieces = Render(c, t);
  ChatTokens out;
  const auto emit = [&out](int32_t id, bool trainable) {
    out.ids.push_back(id);
    out.trainable.push_back(trainable ? 1 : 0);
  };
  // Consecutive text pieces are tokenized together (as HF tokenizes the text
  // between two special tokens), each piece's tokens found as what its
  // prefix adds.
  for (size_t i = 0; i < pieces.size();) {
    const Piece& p = pieces[i];
    if (p.kind == Piece::Kind::kSpecial) {
      emit(SpecialId(tok, p.text), p.trainable);
      ++i;
    } else if (p.kind == Piece::Kind::kMedia) {
      const bool image = p.media != MediaKind::kAudio;
      const int32_t pad = SpecialId(tok, image ? t.image_pad : t.audio_pad);
      const int64_t n = media_tokens(ContentPart{true, p.media, p.text});
      (p.media == MediaKind::kImageOut ? out.image_out : out.media)
          .push_back({p.media, p.text, static_cast<int64_t>(out.ids.size()), n});
      for (int64_t k = 0; k < n; ++k) emit(pad, p.trainable);  // output codes are labels; encoder rows are not
      ++i;
    } else {
      std::string prefix;
      std::vector<int32_t> before;
      for (; i < pieces.size() && pieces[i].kind == Piece::Kind::kText; ++i) {
        prefix += pieces[i].text;
        const auto ids = tok.Encode(prefix);
        if (ids.size() < before.size() || !std::equal(before.begin(), before.end(), ids.begin())) {
          throw DataError(ErrorWithFix("the text \"" + pieces[i].text + "\" merges with the text before it into one token",
                                       "separate the turn's text with a newline or a space"));
        }
        for (size_t k = before.size(); k < ids.size(); ++k) emit(ids[k], pieces[i].trainable);
        before = ids;
      }
    }
  }
  return out;
}

}  // namespace loom::data
