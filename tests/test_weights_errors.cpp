// Loading a checkpoint with missing, extra, misshapen or mistyped tensors fails with a clear, typed error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "core/progress.h"
#include "fixture_util.h"
#include "model/weights.h"

namespace glmq {
namespace {

namespace fs = std::filesystem;

// Copies tiny-a into a temporary directory, letting `edit` change the list of tensors first.
class BrokenCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    set_quiet(true);
    dir_ = fs::temp_directory_path() / ("glmq_ckpt_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::create_directories(dir_);
    fs::copy_file(test::fixture_dir("tiny-a") + "/config.json", dir_ / "config.json", fs::copy_options::overwrite_existing);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write_model(const std::function<void(std::vector<TensorToWrite>&)>& edit) {
    SafetensorsFile src(test::fixture_dir("tiny-a") + "/model.safetensors");
    std::vector<TensorToWrite> tensors;
    for (const auto& t : src.tensors()) tensors.push_back({t.name, t.shape, t.dtype, t.data, t.nbytes});
    edit(tensors);
    write_safetensors((dir_ / "model.safetensors").string(), tensors);
  }

  std::string load_error(ErrorKind want) {
    try {
      Model::load_hf(dir_.string());
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), want) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "expected the load to fail";
    return "";
  }

  fs::path dir_;
};

TEST_F(BrokenCheckpoint, UntouchedCopyLoads) {
  write_model([](auto&) {});
  EXPECT_NO_THROW(Model::load_hf(dir_.string()));
}

TEST_F(BrokenCheckpoint, MissingTensorIsNamed) {
  write_model([](auto& ts) { std::erase_if(ts, [](const auto& t) { return t.name == "model.layers.1.self_attn.kv_b_proj.weight"; }); });
  EXPECT_NE(load_error(ErrorKind::MissingTensor).find("model.layers.1.self_attn.kv_b_proj.weight"), std::string::npos);
}

TEST_F(BrokenCheckpoint, IndexerWeightsOnASharedLayerAreUnexpected) {
  static std::vector<std::uint16_t> zeros(64 * 64);
  write_model([](auto& ts) {
    ts.push_back({"model.layers.2.self_attn.indexer.wk.weight", {32, 64}, FileDType::BF16, zeros.data(), 32 * 64 * 2});
  });
  EXPECT_NE(load_error(ErrorKind::UnexpectedTensor).find("model.layers.2.self_attn.indexer.wk.weight"), std::string::npos);
}

TEST_F(BrokenCheckpoint, WrongShapeStatesExpectedAndFound) {
  write_model([](auto& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.0.self_attn.q_a_proj.weight") t.shape = {64, 48};
  });
  std::string msg = load_error(ErrorKind::Shape);
  EXPECT_NE(msg.find("[64, 48]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[48, 64]"), std::string::npos) << msg;
}

TEST_F(BrokenCheckpoint, NonFloatWeightIsADTypeError) {
  write_model([](auto& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.0.mlp.up_proj.weight") {
        t.dtype = FileDType::I16;
      }
  });
  EXPECT_NE(load_error(ErrorKind::DType).find("I16"), std::string::npos);
}

TEST_F(BrokenCheckpoint, MtpLayerIsRecognisedAndKept) {
  static std::vector<std::uint16_t> data(512 * 128, 0x3f80);
  write_model([](auto& ts) {
    std::vector<TensorToWrite> extra;
    for (const auto& t : ts) {
      const std::string p = "model.layers.3.";
      if (t.name.rfind(p, 0) == 0) extra.push_back({"model.layers.4." + t.name.substr(p.size()), t.shape, t.dtype, t.data, t.nbytes});
    }
    extra.push_back({"model.layers.4.enorm.weight", {64}, FileDType::BF16, data.data(), 128});
    extra.push_back({"model.layers.4.hnorm.weight", {64}, FileDType::BF16, data.data(), 128});
    extra.push_back({"model.layers.4.shared_head.norm.weight", {64}, FileDType::BF16, data.data(), 128});
    extra.push_back({"model.layers.4.eh_proj.weight", {64, 128}, FileDType::BF16, data.data(), 64 * 128 * 2});
    ts.insert(ts.end(), extra.begin(), extra.end());
  });
  auto model = Model::load_hf(dir_.string());
  ASSERT_TRUE(model->weights.mtp.has_value());
  EXPECT_TRUE(model->weights.mtp->layer.attn.indexer.has_value());
  EXPECT_TRUE(model->weights.mtp->layer.moe.has_value());
  EXPECT_FALSE(model->weights.mtp->shared_head.has_value());
}

TEST_F(BrokenCheckpoint, TruncatedFileIsAFormatError) {
  write_model([](auto&) {});
  fs::resize_file(dir_ / "model.safetensors", fs::file_size(dir_ / "model.safetensors") - 100);
  load_error(ErrorKind::Format);
}

TEST_F(BrokenCheckpoint, BadConfigJsonIsAFormatError) {
  write_model([](auto&) {});
  std::ofstream(dir_ / "config.json", std::ios::trunc) << "{\"model_type\": \"glm_moe_dsa\",";
  EXPECT_NE(load_error(ErrorKind::Format).find("config.json"), std::string::npos);
}

TEST_F(BrokenCheckpoint, MissingFilesAreIoErrors) {
  load_error(ErrorKind::Io);
}

}  // namespace
}  // namespace glmq
