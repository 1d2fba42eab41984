#include "tokenizer/sp_model_file.h"

#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"

namespace yopo {
namespace {

// Protobuf wire types (https://protobuf.dev/programming-guides/encoding/).
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

const char* wire_type_name(uint32_t w) {
  switch (w) {
    case kVarint:
      return "varint";
    case kFixed64:
      return "64-bit";
    case kLengthDelimited:
      return "length-delimited";
    case kFixed32:
      return "32-bit";
    case 3:
    case 4:
      return "group (unsupported)";
  }
  return "invalid";
}

// One field of a message: its number and wire type, and its value (an integer for varint and
// fixed fields, bytes for length-delimited ones).
struct Field {
  uint32_t number = 0;
  uint32_t wire = 0;
  uint64_t value = 0;
  std::string_view bytes;
};

// Reads the fields of one message, with bounds checks; errors name the source and the offset
// of the problem within the whole file.
class WireReader {
 public:
  WireReader(std::string_view msg, size_t base, const std::string& source, const char* what)
      : msg_(msg), base_(base), source_(source), what_(what) {}

  bool done() const { return pos_ >= msg_.size(); }

  // Offset in the file of the next unread byte.
  size_t offset() const { return base_ + pos_; }

  Field next() {
    const size_t start = pos_;
    const uint64_t key = varint();
    Field f;
    f.wire = uint32_t(key & 7);
    const uint64_t number = key >> 3;
    if (number == 0 || number > 0x1FFFFFFF) bad(start, "invalid field number ", number);
    f.number = uint32_t(number);
    switch (f.wire) {
      case kVarint:
        f.value = varint();
        break;
      case kFixed64:
        f.value = fixed(8);
        break;
      case kFixed32:
        f.value = fixed(4);
        break;
      case kLengthDelimited: {
        const size_t len_at = pos_;
        const uint64_t len = varint();
        if (len > msg_.size() - pos_) {
          bad(len_at, "field ", f.number, " claims ", len, " bytes but only ", msg_.size() - pos_,
              " remain");
        }
        f.bytes = msg_.substr(pos_, size_t(len));
        pos_ += size_t(len);
        break;
      }
      default:
        bad(start, "field ", f.number, " has wire type ", f.wire, " (", wire_type_name(f.wire),
            ")");
    }
    return f;
  }

  // Throws unless `f` has wire type `want`.
  void expect(const Field& f, uint32_t want, const char* name) const {
    if (f.wire != want) {
      fail(source_, ": malformed tokenizer model: ", what_, " field ", f.number, " (", name,
           ") has wire type ", wire_type_name(f.wire), ", expected ", wire_type_name(want),
           " (near byte ", offset(), ")");
    }
  }

  // Offset in the file where the bytes of a length-delimited field start.
  size_t offset_of(std::string_view sub) const { return base_ + size_t(sub.data() - msg_.data()); }

 private:
  template <class... Parts>
  [[noreturn]] void bad(size_t at, const Parts&... parts) const {
    fail(source_, ": malformed tokenizer model: ", what_, ": ", parts..., " (at byte ", base_ + at,
         ")");
  }

  uint64_t varint() {
    const size_t start = pos_;
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= msg_.size()) bad(start, "truncated varint");
      const uint8_t b = uint8_t(msg_[pos_++]);
      v |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    bad(start, "varint longer than 10 bytes");
  }

  uint64_t fixed(size_t n) {
    if (msg_.size() - pos_ < n) bad(pos_, "truncated ", n * 8, "-bit value");
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t(uint8_t(msg_[pos_ + i])) << (8 * i);
    pos_ += n;
    return v;
  }

  std::string_view msg_;
  size_t base_;
  size_t pos_ = 0;
  const std::string& source_;
  const char* what_;
};

float as_float(uint64_t bits32) {
  const uint32_t u = uint32_t(bits32);
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// int32 fields are varints of the sign-extended 64-bit value.
int32_t as_int32(uint64_t v) {
  return int32_t(int64_t(v));
}

// The SentencePiece TrainerSpec.ModelType values.
const char* model_type_name(int64_t t) {
  switch (t) {
    case 1:
      return "UNIGRAM";
    case 2:
      return "BPE";
    case 3:
      return "WORD";
    case 4:
      return "CHAR";
  }
  return "unknown";
}

struct Settings {
  int64_t model_type = 1;  // the proto default: UNIGRAM
  bool treat_whitespace_as_suffix = false;
  std::string normalizer_name;
  size_t charsmap_size = 0;
  size_t denormalizer_charsmap_size = 0;
};

void read_piece(std::string_view msg, size_t base, const std::string& source, Vocab& v) {
  const size_t index = v.pieces.size();
  WireReader r(msg, base, source, "SentencePiece");
  std::string piece;
  float score = 0.0f;
  int64_t type = int64_t(TokenType::Normal);
  while (!r.done()) {
    const Field f = r.next();
    switch (f.number) {
      case 1:
        r.expect(f, kLengthDelimited, "piece");
        piece.assign(f.bytes);
        break;
      case 2:
        r.expect(f, kFixed32, "score");
        score = as_float(f.value);
        break;
      case 3:
        r.expect(f, kVarint, "type");
        type = int64_t(f.value);
        break;
      default:
        break;  // unknown fields are skipped
    }
  }
  check(!piece.empty(), source, ": malformed tokenizer model: piece ", index, " is empty");
  check(is_valid_token_type(type), source, ": malformed tokenizer model: piece ", index, " ('",
        piece, "') has invalid type ", type);
  v.pieces.push_back(std::move(piece));
  v.scores.push_back(score);
  v.types.push_back(TokenType(type));
}

void read_trainer_spec(std::string_view msg, size_t base, const std::string& source, Vocab& v,
                       Settings& s) {
  WireReader r(msg, base, source, "TrainerSpec");
  while (!r.done()) {
    const Field f = r.next();
    switch (f.number) {
      case 3:
        r.expect(f, kVarint, "model_type");
        s.model_type = int64_t(f.value);
        break;
      case 24:
        r.expect(f, kVarint, "treat_whitespace_as_suffix");
        s.treat_whitespace_as_suffix = f.value != 0;
        break;
      case 35:
        r.expect(f, kVarint, "byte_fallback");
        v.byte_fallback = f.value != 0;
        break;
      case 40:
        r.expect(f, kVarint, "unk_id");
        v.unk_id = as_int32(f.value);
        break;
      case 41:
        r.expect(f, kVarint, "bos_id");
        v.bos_id = as_int32(f.value);
        break;
      case 42:
        r.expect(f, kVarint, "eos_id");
        v.eos_id = as_int32(f.value);
        break;
      case 43:
        r.expect(f, kVarint, "pad_id");
        v.pad_id = as_int32(f.value);
        break;
      case 44:
        r.expect(f, kLengthDelimited, "unk_surface");
        v.unk_surface.assign(f.bytes);
        break;
      default:
        break;
    }
  }
}

void read_normalizer_spec(std::string_view msg, size_t base, const std::string& source, Vocab* v,
                          std::string* name, size_t* charsmap_size) {
  WireReader r(msg, base, source, "NormalizerSpec");
  while (!r.done()) {
    const Field f = r.next();
    switch (f.number) {
      case 1:
        r.expect(f, kLengthDelimited, "name");
        if (name) name->assign(f.bytes);
        break;
      case 2:
        r.expect(f, kLengthDelimited, "precompiled_charsmap");
        *charsmap_size = f.bytes.size();
        break;
      case 3:
        r.expect(f, kVarint, "add_dummy_prefix");
        if (v) v->add_space_prefix = f.value != 0;
        break;
      case 4:
        r.expect(f, kVarint, "remove_extra_whitespaces");
        if (v) v->remove_extra_whitespaces = f.value != 0;
        break;
      case 5:
        r.expect(f, kVarint, "escape_whitespaces");
        if (v) v->escape_whitespaces = f.value != 0;
        break;
      default:
        break;
    }
  }
}

}  // namespace

Vocab parse_sp_model_vocab(std::string_view bytes, const std::string& source) {
  Vocab v;
  // Defaults of the proto definition where they differ from Vocab's own.
  v.byte_fallback = false;
  v.remove_extra_whitespaces = true;
  v.add_space_prefix = true;
  v.escape_whitespaces = true;
  Settings s;

  WireReader r(bytes, 0, source, "ModelProto");
  while (!r.done()) {
    const Field f = r.next();
    switch (f.number) {
      case 1:
        r.expect(f, kLengthDelimited, "pieces");
        read_piece(f.bytes, r.offset_of(f.bytes), source, v);
        break;
      case 2:
        r.expect(f, kLengthDelimited, "trainer_spec");
        read_trainer_spec(f.bytes, r.offset_of(f.bytes), source, v, s);
        break;
      case 3:
        r.expect(f, kLengthDelimited, "normalizer_spec");
        read_normalizer_spec(f.bytes, r.offset_of(f.bytes), source, &v, &s.normalizer_name,
                             &s.charsmap_size);
        break;
      case 5:
        r.expect(f, kLengthDelimited, "denormalizer_spec");
        read_normalizer_spec(f.bytes, r.offset_of(f.bytes), source, nullptr, nullptr,
                             &s.denormalizer_charsmap_size);
        break;
      default:
        break;
    }
  }

  check(!v.pieces.empty(), source, ": not a SentencePiece tokenizer model (no pieces found)");
  check(s.model_type == 2, source, ": tokenizer model type ", s.model_type, " (",
        model_type_name(s.model_type), ") is not supported; only BPE (LLaMA) models are");
  check(!s.treat_whitespace_as_suffix, source,
        ": tokenizer models with treat_whitespace_as_suffix are not supported");
  check(s.charsmap_size == 0, source, ": the tokenizer model's normalizer '", s.normalizer_name,
        "' uses a precompiled character map, which is not supported (only the identity "
        "normalizer, as LLaMA uses)");
  check(s.denormalizer_charsmap_size == 0, source,
        ": tokenizer models with a denormalizer character map are not supported");
  validate_vocab(v, source);
  return v;
}

Vocab load_sp_model_vocab(const std::string& tokenizer_model_path) {
  const MappedFile file(tokenizer_model_path);
  const std::string_view bytes(reinterpret_cast<const char*>(file.data()), file.size());
  return parse_sp_model_vocab(bytes, tokenizer_model_path);
}

}  // namespace yopo
