// The glmq command line: logits files equal to the HF reference, inspect's schedule, run's greedy ids, and
// clear non-zero exits on bad input.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli_runner.h"
#include "fixture_util.h"

namespace glmq::test {
namespace {

std::string ids_of(const std::string& fixture, std::size_t count) {
  SafetensorsFile ref(fixture_dir(fixture) + "/reference.safetensors");
  auto ids = read_ref(ref, "input_ids").i32;
  std::string s;
  for (std::size_t i = 0; i < std::min(count, ids.size()); ++i) {
    if (i) s.push_back(',');
    s.append(std::to_string(ids[i]));
  }
  return s;
}

std::vector<float> read_floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

class Cli : public ::testing::Test {
 protected:
  std::string tmp(const std::string& name) {
    return (std::filesystem::temp_directory_path() /
            ("glmq_cli_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + name))
        .string();
  }
};

TEST_F(Cli, LogitsPrefillAndDecodeMatchReference) {
  SafetensorsFile ref(fixture_dir("tiny-b") + "/reference.safetensors");
  auto want = read_ref(ref, "logits").f32;
  const double tol = 1e-3 * stddev(want);
  for (const char* mode : {"", " --decode"}) {
    std::string out = tmp(".bin");
    auto r = run_glmq("logits --model " + fixture_dir("tiny-b") + " --tokens " + ids_of("tiny-b", 1000) + " --out " + out + mode);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto got = read_floats(out);
    ASSERT_EQ(got.size(), want.size()) << mode;
    EXPECT_LE(max_abs_diff(got.data(), want.data(), got.size()), tol) << mode;
    std::filesystem::remove(out);
  }
}

TEST_F(Cli, InspectShowsScheduleAndTensorBytes) {
  auto r = run_glmq("inspect --model " + fixture_dir("tiny-b"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("3 of 6 layers full"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("  1  dense  indexer full"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("  3  moe    indexer shared"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("BF16"), std::string::npos);
  EXPECT_NE(r.output.find("F32"), std::string::npos);
}

TEST_F(Cli, RunGeneratesTheReferenceArgmaxFirst) {
  SafetensorsFile ref(fixture_dir("tiny-a") + "/reference.safetensors");
  auto logits = read_ref(ref, "logits").f32;
  const std::size_t vocab = 512, t = 9;  // prompt = first 10 ids; next id = argmax of row 9
  auto row = logits.begin() + static_cast<std::ptrdiff_t>(t * vocab);
  auto want = std::max_element(row, row + static_cast<std::ptrdiff_t>(vocab)) - row;
  auto r = run_glmq("run --model " + fixture_dir("tiny-a") + " --tokens " + ids_of("tiny-a", 10) + " --max-tokens 5 --ignore-eos");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // stdout holds the ids on one line; stderr's progress lines may interleave in any order.
  std::string prefix = std::to_string(want);
  prefix.push_back(',');
  EXPECT_TRUE(r.output.rfind(prefix, 0) == 0 || r.output.find("\n" + prefix) != std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tokens/s"), std::string::npos);
}

// Depths are measured in increasing order whatever order they are given in (one prompt, prefilled segment by segment).
TEST_F(Cli, BenchDepthTimesDecodeAtEachDepth) {
  auto r = run_glmq("bench --model " + fixture_dir("tiny-a") + " --depth 20,8 --gen 3 --repetitions 2 --threads 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json doc = Json::parse(r.output.substr(r.output.find('{')));
  const auto per_token = doc.at("cache_bytes_per_token").get<double>();
  EXPECT_GT(per_token, 0);
  ASSERT_EQ(doc.at("results").size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const Json& d = doc["results"][i];
    const auto depth = d.at("depth").get<std::int64_t>();
    EXPECT_EQ(depth, i == 0 ? 8 : 20);
    EXPECT_EQ(d.at("decoded_tokens").get<std::int64_t>(), 3);
    EXPECT_EQ(d.at("decode_runs").get<int>(), 2);
    const auto lo = d.at("decode_tokens_per_second_min").get<double>();
    const auto mid = d.at("decode_tokens_per_second_median").get<double>();
    EXPECT_GT(lo, 0);
    EXPECT_LE(lo, mid);
    EXPECT_LE(mid, d.at("decode_tokens_per_second_max").get<double>());
    EXPECT_DOUBLE_EQ(d.at("cache_bytes_at_depth").get<double>(), per_token * static_cast<double>(depth));
    EXPECT_GT(d.at("prefill_tokens_per_second").get<double>(), 0);
    EXPECT_GT(d.at("rss_bytes_at_depth").get<std::int64_t>(), 1 << 20);  // the process itself holds more than 1 MiB
  }
  r = run_glmq("bench --model " + fixture_dir("tiny-a") + " --depth 4,0 --gen 2");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--depth: depths must be positive"), std::string::npos) << r.output;
}

// ppl --method llama scores llama-perplexity's predictions: --chunks disjoint chunks of --ctx tokens, the second half
// of each (ctx − 1 − ctx/2 predictions per chunk); each method refuses the options of the others.
TEST_F(Cli, PplMethodLlamaScoresSecondHalvesOfChunks) {
  const std::string model = shared_dir() + "/models/glm-mini";
  const std::string text = shared_dir() + "/data/corpus/python-code-test.txt";
  auto r = run_glmq("ppl --model " + model + " --data " + text + " --method llama --ctx 64 --chunks 3 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("llama-perplexity chunks of 64, 3 of "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| 93 predictions |"), std::string::npos) << r.output;  // 3 × (64 − 1 − 32)
  const std::string base = "ppl --model " + model + " --data " + text;
  struct Case {
    std::string args, message;
  };
  for (const Case& c : {Case{" --method llama --stride 32", "--stride applies to --method strided, not llama"},
                        Case{" --samples 5", "--samples applies to --method sampled, not strided"},
                        Case{" --chunks 2", "--chunks applies to --method llama, not strided"},
                        Case{" --method sampled --ctx 64", "--ctx applies to --method strided or llama, not sampled"},
                        Case{" --method sampled", "--method sampled needs --samples N"},
                        Case{" --method llama --ctx 64 --chunks -1", "--chunks must be positive"},
                        Case{" --method bogus", "--method"}, Case{" --llama-chunks", "--llama-chunks"}}) {
    r = run_glmq(base + c.args);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << ": " << r.output;
  }
}

TEST_F(Cli, BadInputFailsClearly) {
  auto r = run_glmq("logits --model /nonexistent --tokens 1,2 --out " + tmp(".bin"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("not a model directory"), std::string::npos) << r.output;
  r = run_glmq("logits --model " + fixture_dir("tiny-a") + " --tokens 1,x,3 --out " + tmp(".bin"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("'x' is not a token id"), std::string::npos) << r.output;
  r = run_glmq("logits --model " + fixture_dir("tiny-a") + " --tokens 1,600 --out " + tmp(".bin"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("outside the vocabulary of 512"), std::string::npos) << r.output;
  r = run_glmq("run --model " + fixture_dir("tiny-a") + " --tokens 1,2,3 --ctx 3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("does not fit the context"), std::string::npos) << r.output;
  r = run_glmq("frobnicate");
  EXPECT_NE(r.exit_code, 0);
  r = run_glmq("run --model " + fixture_dir("tiny-a") + " --tokens 1,2,3 --device gpu");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("expected cpu or cuda, got 'gpu'"), std::string::npos) << r.output;
}

// --device cuda either computes (a CUDA build on a machine with a GPU: tests/cuda compares it with the CPU) or
// says exactly what is missing, while parsing — before the model is loaded.
TEST_F(Cli, DeviceCudaSaysWhatIsMissing) {
  const auto r = run_glmq("ppl --model /nonexistent --data /nonexistent --device cuda");
  ASSERT_NE(r.exit_code, 0);
  const bool no_backend = r.output.find("built without the CUDA backend") != std::string::npos;
  const bool no_gpu = r.output.find("no CUDA device is visible") != std::string::npos;
  // With a usable GPU the parse succeeds and the missing model is the error.
  const bool gpu_ok = r.output.find("not a model directory") != std::string::npos;
  EXPECT_TRUE(no_backend || no_gpu || gpu_ok) << r.output;
  EXPECT_EQ(r.output.find("loading"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace glmq::test
