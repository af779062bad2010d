// Property: BER-TLV that parses can be rebuilt from its tree (primitives with Add, constructed
// objects with Begin/End), the rebuilt bytes parse to the same tree, and rebuilding that gives the
// same bytes again (the writer's output is canonical). FindTlv agrees with the walk. Data that does
// not parse fails with an offset inside the input.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "iso8583/tlv.h"

namespace sy::iso8583 {
namespace {

#define SY_FUZZ_CHECK(cond)                                                            \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (false)

using Bytes = std::vector<std::uint8_t>;

struct Node {
  int depth = 0;
  std::uint32_t tag = 0;
  bool constructed = false;
  Bytes value;  // primitives only
  bool operator==(const Node&) const = default;
};

Result<std::vector<Node>> Parse(std::span<const std::uint8_t> data) {
  std::vector<Node> nodes;
  Result<void> r = WalkTlv(data, [&](const Tlv& tlv, int depth) {
    SY_FUZZ_CHECK(tlv.offset < data.size());
    SY_FUZZ_CHECK(tlv.value.data() >= data.data() &&
                  tlv.value.data() + tlv.value.size() <= data.data() + data.size());
    SY_FUZZ_CHECK(tlv.constructed == IsConstructedTlvTag(tlv.tag));
    nodes.push_back({depth, tlv.tag, tlv.constructed,
                     tlv.constructed ? Bytes() : Bytes(tlv.value.begin(), tlv.value.end())});
    return true;
  });
  if (!r) {
    return r.error();
  }
  return nodes;
}

Bytes Build(const std::vector<Node>& nodes) {
  Bytes out;
  TlvWriter w(out);
  std::vector<int> open;
  for (const Node& n : nodes) {
    while (!open.empty() && open.back() >= n.depth) {
      SY_FUZZ_CHECK(w.End().has_value());
      open.pop_back();
    }
    SY_FUZZ_CHECK(IsValidTlvTag(n.tag));
    if (n.constructed) {
      SY_FUZZ_CHECK(w.Begin(n.tag).has_value());
      open.push_back(n.depth);
    } else {
      SY_FUZZ_CHECK(w.Add(n.tag, n.value).has_value());
    }
  }
  while (!open.empty()) {
    SY_FUZZ_CHECK(w.End().has_value());
    open.pop_back();
  }
  SY_FUZZ_CHECK(w.depth() == 0);
  return out;
}

}  // namespace
}  // namespace sy::iso8583

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sy::iso8583;
  const std::span<const std::uint8_t> input(data, size);
  Result<std::vector<Node>> tree = Parse(input);
  if (!tree) {
    const CodecError& e = tree.error();
    SY_FUZZ_CHECK(e.code == Error::kTruncated || e.code == Error::kBadTlv ||
                  e.code == Error::kTlvTooDeep);
    SY_FUZZ_CHECK(e.offset <= size);
    return 0;
  }
  const Bytes rebuilt = Build(*tree);
  Result<std::vector<Node>> reparsed = Parse(rebuilt);
  SY_FUZZ_CHECK(reparsed.has_value());
  SY_FUZZ_CHECK(*reparsed == *tree);
  SY_FUZZ_CHECK(Build(*reparsed) == rebuilt);
  SY_FUZZ_CHECK(rebuilt.size() <= size);  // shortest lengths and no padding: never longer

  if (!tree->empty()) {
    const Node& last = tree->back();
    Result<std::optional<Tlv>> found = FindTlv(input, last.tag);
    SY_FUZZ_CHECK(found.has_value() && found->has_value());
    SY_FUZZ_CHECK((*found)->tag == last.tag);
    // The first node with that tag in walk order is what FindTlv returns.
    for (const Node& n : *tree) {
      if (n.tag == last.tag) {
        SY_FUZZ_CHECK(n.constructed ||
                      Bytes((*found)->value.begin(), (*found)->value.end()) == n.value);
        break;
      }
    }
  }
  return 0;
}
