// Token ids equal HF tokenizers' on every file of shared/data, whole-file and line by line.
#include <gtest/gtest.h>

#include "golden_util.h"
#include "tokenizer/tokenizer.h"

namespace glmq::test {
namespace {

const Tokenizer& mini_tokenizer() {
  static const Tokenizer t = Tokenizer::from_directory(mini_model_dir());
  return t;
}

class DataFileGolden : public ::testing::TestWithParam<std::size_t> {};

TEST_P(DataFileGolden, WholeFileAndLinesMatchHf) {
  const auto golden = read_golden("tokenizer_files.json");
  const auto& entry = golden["files"][GetParam()];
  const std::string rel = entry["path"].get<std::string>();
  SCOPED_TRACE(rel);
  const std::string bytes = read_bytes(shared_path(rel));
  ASSERT_FALSE(bytes.empty() && entry["whole_count"].get<std::size_t>() > 0) << "missing data file";

  const std::vector<uint32_t> whole = mini_tokenizer().encode(bytes);
  EXPECT_EQ(whole.size(), entry["whole_count"].get<std::size_t>());
  const auto head = entry["whole_head"].get<std::vector<uint32_t>>();
  EXPECT_EQ(std::vector<uint32_t>(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(std::min(head.size(), whole.size()))), head);
  IdFingerprint fp;
  fp.add(whole);
  EXPECT_EQ(fp.hex(), entry["whole_hash"].get<std::string>());
  // Byte-level BPE is lossless on valid UTF-8.
  EXPECT_TRUE(mini_tokenizer().decode(whole) == bytes) << "round trip differs";

  const std::size_t chunk_lines = entry["chunk_lines"].get<std::size_t>();
  const auto chunk_hashes = entry["line_chunk_hashes"].get<std::vector<std::string>>();
  std::size_t line_no = 0, start = 0, total = 0, chunk = 0;
  IdFingerprint chunk_fp;
  while (true) {
    const std::size_t nl = bytes.find('\n', start);
    const std::string line = bytes.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    const std::vector<uint32_t> ids = mini_tokenizer().encode(line);
    total += ids.size();
    chunk_fp.add(ids);
    chunk_fp.add(0xFFFFFFFFu);
    ++line_no;
    if (line_no % chunk_lines == 0 || nl == std::string::npos) {
      ASSERT_LT(chunk, chunk_hashes.size());
      EXPECT_EQ(chunk_fp.hex(), chunk_hashes[chunk]) << "lines " << chunk * chunk_lines + 1 << ".." << line_no;
      ++chunk;
      chunk_fp = IdFingerprint();
    }
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  EXPECT_EQ(line_no, entry["lines"].get<std::size_t>());
  EXPECT_EQ(chunk, chunk_hashes.size());
  EXPECT_EQ(total, entry["line_ids_total"].get<std::size_t>());
}

std::size_t golden_file_count() { return read_golden("tokenizer_files.json")["files"].size(); }

INSTANTIATE_TEST_SUITE_P(SharedData, DataFileGolden, ::testing::Range<std::size_t>(0, golden_file_count()));

}  // namespace
}  // namespace glmq::test
