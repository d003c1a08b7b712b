#include "model/mlx_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>

#include "core/error.h"
#include "core/float_convert.h"
#include "core/json_file.h"
#include "core/progress.h"
#include "formats/tensor_store.h"
#include "model/config.h"
#include "quant/mlx_affine.h"

namespace glmq {

namespace fs = std::filesystem;

namespace {

// One output tensor: where it goes and how big it is.
struct OutTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  FileDType dtype;
  std::uint64_t nbytes = 0;
  int shard = 0;
  std::uint64_t offset = 0;  // within the shard's data section
};

// A module job fills one to three output tensors (weight, or weight + scales + biases) from its sources.
struct Job {
  std::string module;                 // output module path (MLX naming)
  std::string match_name;             // HF-style path the recipe is matched against (besides `module`)
  std::vector<std::int64_t> leading;  // e.g. {E} for stacked experts, {H} for embed_q/unembed_out
  std::int64_t rows = 0, cols = 0;    // per leading slice
  bool is_matrix = true;              // false: a non-linear tensor (norm, bias) copied unchanged
  const TensorSource* raw = nullptr;  // for copies
  // Writes slice `index` (of product(leading)) as float32 [rows × cols].
  std::function<void(std::int64_t index, float* out)> slice;
  QuantTarget target;
  WeightType source_type = WeightType::BF16;
  std::vector<std::size_t> outputs;   // indices into the OutTensor list
};

FileDType file_dtype_of(WeightType t) {
  switch (t) {
    case WeightType::F32: return FileDType::F32;
    case WeightType::F16: return FileDType::F16;
    default: return FileDType::BF16;
  }
}

void source_row_to_f32(const TensorSource& t, std::int64_t row, std::int64_t cols, float* out) {
  const std::size_t first = static_cast<std::size_t>(row * cols);
  for (std::int64_t c = 0; c < cols; ++c) {
    const std::size_t i = first + static_cast<std::size_t>(c);
    switch (t.dtype) {
      case FileDType::F32: out[c] = reinterpret_cast<const float*>(t.data)[i]; break;
      case FileDType::F16: out[c] = f16_to_f32(reinterpret_cast<const std::uint16_t*>(t.data)[i]); break;
      case FileDType::BF16: out[c] = bf16_to_f32(reinterpret_cast<const std::uint16_t*>(t.data)[i]); break;
      default:
        fail(ErrorKind::DType, t.file + ": tensor '" + t.name + "' has dtype " + file_dtype_name(t.dtype) +
                                   "; glmq quantizes from F32, F16 or BF16");
    }
  }
}

std::string component_of(const std::string& module, bool is_matrix) {
  if (!is_matrix) return "norms and biases";
  if (module.find("embed_tokens") != std::string::npos) return "embedding";
  if (module.find("lm_head") != std::string::npos || module.find("shared_head.head") != std::string::npos) return "LM head";
  if (module.find(".indexer.") != std::string::npos) return "indexer";
  if (module.find(".switch_mlp.") != std::string::npos) return "routed experts";
  if (module.find(".shared_experts.") != std::string::npos) return "shared experts";
  if (module.find(".self_attn.") != std::string::npos) return "attention";
  if (module.size() >= 9 && module.compare(module.size() - 9, 9, ".mlp.gate") == 0) return "router";
  if (module.find(".mlp.") != std::string::npos) return "dense MLP";
  return "other";
}

class FileWriter {
 public:
  explicit FileWriter(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail(ErrorKind::Io, path + ": cannot create: " + std::strerror(errno));
  }
  ~FileWriter() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;
  void write_at(std::uint64_t offset, const void* data, std::size_t n) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    while (n > 0) {
      ssize_t w = ::pwrite(fd_, p, n, static_cast<off_t>(offset));
      if (w < 0) {
        if (errno == EINTR) continue;
        fail(ErrorKind::Io, path_ + ": write failed: " + std::strerror(errno));
      }
      p += w;
      n -= static_cast<std::size_t>(w);
      offset += static_cast<std::uint64_t>(w);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

QuantizeSummary write_mlx_checkpoint(const std::string& hf_dir, const std::string& out_dir, const Recipe& recipe,
                                     const MlxWriteOptions& options) {
  const std::string config_path = (fs::path(hf_dir) / "config.json").string();
  Json config_json = read_json_file(config_path);
  const GlmConfig c = GlmConfig::from_hf_json(config_json, config_path);
  if (config_json.contains("quantization"))
    fail(ErrorKind::InvalidArgument, hf_dir + ": already an MLX quantized build; quantize from the unquantized HF checkpoint");
  TensorStore store = TensorStore::open_hf_dir(hf_dir);
  if (fs::exists(out_dir) && !fs::is_directory(out_dir)) fail(ErrorKind::Io, out_dir + ": exists and is not a directory");
  if (fs::absolute(out_dir) == fs::absolute(hf_dir)) fail(ErrorKind::InvalidArgument, "--out must differ from --model");
  fs::create_directories(out_dir);

  // ---- plan the jobs --------------------------------------------------------------------------------------
  std::vector<Job> jobs;
  std::set<std::string> consumed;
  const std::regex expert_re(R"(^(model\.layers\.\d+\.mlp)\.experts\.(\d+)\.(gate_proj|up_proj|down_proj)\.weight$)");
  const std::regex kvb_re(R"(^(model\.layers\.\d+\.self_attn)\.kv_b_proj\.weight$)");
  for (const auto& name : store.names()) {
    if (consumed.count(name)) continue;
    const TensorSource& t = store.get(name);
    std::smatch m;
    if (std::regex_match(name, m, expert_re)) {
      // Stack all experts of this projection into switch_mlp [E, out, in].
      const std::string base = m[1].str(), proj = m[3].str();
      std::vector<const TensorSource*> parts;
      for (std::int64_t e = 0; e < c.n_routed_experts; ++e) {
        const std::string en = base + ".experts." + std::to_string(e) + "." + proj + ".weight";
        const TensorSource* p = store.find(en);
        if (!p) fail(ErrorKind::MissingTensor, hf_dir + ": '" + en + "' missing (experts are stacked for MLX)");
        if (p->shape != t.shape || p->dtype != t.dtype)
          fail(ErrorKind::Shape, hf_dir + ": '" + en + "' differs in shape or dtype from expert 0");
        parts.push_back(p);
        consumed.insert(en);
      }
      Job j;
      j.module = base + ".switch_mlp." + proj;
      j.match_name = base + ".experts.0." + proj;
      j.leading = {c.n_routed_experts};
      j.rows = t.shape[0];
      j.cols = t.shape[1];
      j.source_type = to_weight_type(t.dtype).value_or(WeightType::BF16);
      j.slice = [parts, cols = j.cols, rows = j.rows](std::int64_t e, float* out) {
        for (std::int64_t r = 0; r < rows; ++r) source_row_to_f32(*parts[static_cast<std::size_t>(e)], r, cols, out + r * cols);
      };
      jobs.push_back(std::move(j));
      continue;
    }
    if (std::regex_match(name, m, kvb_re)) {
      const std::string base = m[1].str();
      const std::int64_t H = c.num_attention_heads, nope = c.qk_nope_head_dim, v = c.v_head_dim, R = c.kv_lora_rank;
      if (t.shape != std::vector<std::int64_t>{H * (nope + v), R})
        fail(ErrorKind::Shape, t.file + ": '" + name + "' has shape " + shape_to_string(t.shape) + ", expected " +
                                   shape_to_string({H * (nope + v), R}));
      const TensorSource* src = &t;
      Job k;
      k.module = base + ".embed_q";
      k.match_name = k.module;
      k.leading = {H};
      k.rows = R;
      k.cols = nope;
      k.source_type = to_weight_type(t.dtype).value_or(WeightType::BF16);
      k.slice = [src, nope, v, R](std::int64_t h, float* out) {
        std::vector<float> row(static_cast<std::size_t>(R));
        for (std::int64_t d = 0; d < nope; ++d) {
          source_row_to_f32(*src, h * (nope + v) + d, R, row.data());
          for (std::int64_t col = 0; col < R; ++col) out[col * nope + d] = row[static_cast<std::size_t>(col)];
        }
      };
      Job u = k;
      u.module = base + ".unembed_out";
      u.match_name = u.module;
      u.rows = v;
      u.cols = R;
      u.slice = [src, nope, v, R](std::int64_t h, float* out) {
        for (std::int64_t i = 0; i < v; ++i) source_row_to_f32(*src, h * (nope + v) + nope + i, R, out + i * R);
      };
      jobs.push_back(std::move(k));
      jobs.push_back(std::move(u));
      continue;
    }
    Job j;
    const bool weight_2d = t.shape.size() == 2 && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 &&
                           to_weight_type(t.dtype).has_value();
    if (weight_2d) {
      j.module = name.substr(0, name.size() - 7);
      j.match_name = j.module;
      j.rows = t.shape[0];
      j.cols = t.shape[1];
      j.source_type = *to_weight_type(t.dtype);
      const TensorSource* src = &t;
      j.slice = [src, rows = j.rows, cols = j.cols](std::int64_t, float* out) {
        for (std::int64_t r = 0; r < rows; ++r) source_row_to_f32(*src, r, cols, out + r * cols);
      };
    } else {
      j.module = name;
      j.is_matrix = false;
      j.raw = &t;
    }
    jobs.push_back(std::move(j));
  }

  // ---- decide each module's storage and lay out the output tensors ---------------------------------------
  std::vector<OutTensor> outs;
  Json quantization = Json::object();
  std::map<int, int> bits_count;
  for (auto& j : jobs) {
    if (!j.is_matrix) {
      j.outputs.push_back(outs.size());
      outs.push_back({j.module, j.raw->shape, j.raw->dtype, j.raw->nbytes});
      continue;
    }
    QuantTarget target = recipe.target_for(j.match_name);
    if (target.kind == QuantTarget::Kind::Keep && j.match_name != j.module) target = recipe.target_for(j.module);
    if (target.kind == QuantTarget::Kind::Ggml)
      fail(ErrorKind::InvalidArgument, "recipe " + recipe.name() + ": '" + j.module + "' gets the GGML type " + target.to_string() +
                                           ", which an MLX build cannot hold (use --format gguf, or affineN/bf16/f16/f32)");
    // MLX quantizes only rows that split into whole groups; others stay in floating point (as mlx-lm does).
    if (target.kind == QuantTarget::Kind::Affine && j.cols % target.group_size != 0) target = QuantTarget{};
    j.target = target;
    std::vector<std::int64_t> shape = j.leading;
    shape.push_back(j.rows);
    std::int64_t slices = 1;
    for (auto d : j.leading) slices *= d;
    if (target.kind == QuantTarget::Kind::Affine) {
      const int bits = affine_bits(target.type);
      const std::int64_t groups = j.cols / target.group_size;
      std::vector<std::int64_t> wshape = shape, ashape = shape;
      wshape.push_back(j.cols * bits / 32);
      ashape.push_back(groups);
      const auto n_rows = static_cast<std::uint64_t>(slices * j.rows);
      const FileDType aux = file_dtype_of(j.source_type);
      j.outputs = {outs.size(), outs.size() + 1, outs.size() + 2};
      outs.push_back({j.module + ".weight", wshape, FileDType::U32, n_rows * static_cast<std::uint64_t>(j.cols * bits / 8)});
      outs.push_back({j.module + ".scales", ashape, aux, n_rows * static_cast<std::uint64_t>(groups) * file_dtype_size(aux)});
      outs.push_back({j.module + ".biases", ashape, aux, n_rows * static_cast<std::uint64_t>(groups) * file_dtype_size(aux)});
      quantization[j.module] = {{"group_size", target.group_size}, {"bits", bits}, {"mode", "affine"}};
      bits_count[bits]++;
    } else {
      const WeightType wt = target.kind == QuantTarget::Kind::Float ? target.type : j.source_type;
      shape.push_back(j.cols);
      j.target = QuantTarget{QuantTarget::Kind::Float, wt, 0};
      j.outputs.push_back(outs.size());
      outs.push_back({j.module + ".weight", shape, file_dtype_of(wt),
                      static_cast<std::uint64_t>(slices * j.rows * j.cols) * file_dtype_size(file_dtype_of(wt))});
    }
  }

  // Shards: jobs in order, a new shard when the next job would pass the limit (a job never spans shards).
  std::vector<std::uint64_t> shard_sizes{0};
  for (const auto& j : jobs) {
    std::uint64_t job_bytes = 0;
    for (auto o : j.outputs) job_bytes += outs[o].nbytes;
    if (shard_sizes.back() > 0 && shard_sizes.back() + job_bytes > options.max_shard_bytes) shard_sizes.push_back(0);
    for (auto o : j.outputs) {
      outs[o].shard = static_cast<int>(shard_sizes.size() - 1);
      outs[o].offset = shard_sizes.back();
      shard_sizes.back() += outs[o].nbytes;
    }
  }
  const int n_shards = static_cast<int>(shard_sizes.size());
  auto shard_name = [n_shards](int s) {
    if (n_shards == 1) return std::string("model.safetensors");
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
    return std::string(buf);
  };

  // ---- headers ------------------------------------------------------------------------------------------
  std::vector<std::unique_ptr<FileWriter>> files;
  std::vector<std::uint64_t> data_start;
  Json weight_map = Json::object();
  for (int s = 0; s < n_shards; ++s) {
    Json header = Json::object();
    header["__metadata__"] = {{"format", "mlx"}};
    for (const auto& o : outs) {
      if (o.shard != s) continue;
      header[o.name] = {{"dtype", file_dtype_name(o.dtype)}, {"shape", o.shape}, {"data_offsets", {o.offset, o.offset + o.nbytes}}};
      weight_map[o.name] = shard_name(s);
    }
    std::string text = header.dump();
    while ((text.size() + 8) % 8 != 0) text.push_back(' ');
    files.push_back(std::make_unique<FileWriter>((fs::path(out_dir) / shard_name(s)).string()));
    const std::uint64_t len = text.size();
    files.back()->write_at(0, &len, 8);
    files.back()->write_at(8, text.data(), text.size());
    data_start.push_back(8 + len);
  }

  // ---- data, module by module ----------------------------------------------------------------------------
  Progress progress("quantizing " + hf_dir, jobs.size());
  std::map<std::string, ComponentSize> components;
  std::map<std::string, std::set<std::string>> component_types;
  for (const auto& j : jobs) {
    const std::string comp = component_of(j.module, j.is_matrix);
    auto& cs = components[comp];
    cs.component = comp;
    if (!j.is_matrix) {
      const OutTensor& o = outs[j.outputs[0]];
      files[static_cast<std::size_t>(o.shard)]->write_at(data_start[static_cast<std::size_t>(o.shard)] + o.offset, j.raw->data, j.raw->nbytes);
      cs.params += j.raw->numel();
      cs.bytes += j.raw->nbytes;
      component_types[comp].insert(file_dtype_name(j.raw->dtype));
      progress.advance();
      continue;
    }
    std::int64_t slices = 1;
    for (auto d : j.leading) slices *= d;
    std::vector<float> buf(static_cast<std::size_t>(j.rows * j.cols));
    for (std::int64_t s = 0; s < slices; ++s) {
      j.slice(s, buf.data());
      if (j.target.kind == QuantTarget::Kind::Affine) {
        const WeightType aux = j.source_type == WeightType::F32 ? WeightType::F32
                               : j.source_type == WeightType::F16 ? WeightType::F16 : WeightType::BF16;
        AffineQuantized q = quantize_affine(buf.data(), j.rows, j.cols, affine_bits(j.target.type), j.target.group_size, aux);
        const std::vector<std::uint8_t>* parts[3] = {&q.codes, &q.scales, &q.biases};
        for (int k = 0; k < 3; ++k) {
          const OutTensor& o = outs[j.outputs[static_cast<std::size_t>(k)]];
          const std::uint64_t per_slice = o.nbytes / static_cast<std::uint64_t>(slices);
          files[static_cast<std::size_t>(o.shard)]->write_at(
              data_start[static_cast<std::size_t>(o.shard)] + o.offset + static_cast<std::uint64_t>(s) * per_slice, parts[k]->data(),
              parts[k]->size());
        }
      } else {
        const OutTensor& o = outs[j.outputs[0]];
        const std::size_t es = file_dtype_size(o.dtype);
        std::vector<std::uint8_t> bytes(buf.size() * es);
        for (std::size_t i = 0; i < buf.size(); ++i) {
          if (o.dtype == FileDType::F32) {
            std::memcpy(bytes.data() + 4 * i, &buf[i], 4);
          } else {
            const std::uint16_t h = o.dtype == FileDType::F16 ? f32_to_f16(buf[i]) : f32_to_bf16(buf[i]);
            std::memcpy(bytes.data() + 2 * i, &h, 2);
          }
        }
        const std::uint64_t per_slice = o.nbytes / static_cast<std::uint64_t>(slices);
        files[static_cast<std::size_t>(o.shard)]->write_at(
            data_start[static_cast<std::size_t>(o.shard)] + o.offset + static_cast<std::uint64_t>(s) * per_slice, bytes.data(),
            bytes.size());
      }
    }
    cs.params += slices * j.rows * j.cols;
    for (auto o : j.outputs) cs.bytes += outs[o].nbytes;
    component_types[comp].insert(j.target.to_string());
    progress.advance();
  }
  files.clear();  // close before writing the index

  // ---- config, index, tokenizer files --------------------------------------------------------------------
  if (!quantization.empty()) {
    int common_bits = bits_count.begin()->first;
    for (const auto& [b, n] : bits_count)
      if (n > bits_count[common_bits]) common_bits = b;
    quantization["bits"] = common_bits;
    quantization["group_size"] = 64;
    quantization["mode"] = "affine";
    config_json["quantization"] = quantization;
    config_json["quantization_config"] = quantization;
  }
  {
    std::ofstream out(fs::path(out_dir) / "config.json", std::ios::trunc);
    out << config_json.dump(2) << "\n";
    if (!out) fail(ErrorKind::Io, out_dir + "/config.json: write failed");
  }
  std::uint64_t total = 0;
  for (auto s : shard_sizes) total += s;
  if (n_shards > 1) {
    std::ofstream out(fs::path(out_dir) / "model.safetensors.index.json", std::ios::trunc);
    out << Json{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}}.dump(2) << "\n";
  } else {
    fs::remove(fs::path(out_dir) / "model.safetensors.index.json");
  }
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json",
                        "chat_template.jinja"}) {
    if (fs::exists(fs::path(hf_dir) / f))
      fs::copy_file(fs::path(hf_dir) / f, fs::path(out_dir) / f, fs::copy_options::overwrite_existing);
  }

  QuantizeSummary summary;
  for (auto& [name, cs] : components) {
    for (const auto& t : component_types[name]) {
      if (!cs.types.empty()) cs.types.append(", ");
      cs.types.append(t);
    }
    summary.components.push_back(cs);
    summary.total_params += cs.params;
    summary.total_bytes += cs.bytes;
  }
  summary.shards = n_shards;
  progress.finish("wrote " + std::to_string(outs.size()) + " tensors in " + std::to_string(n_shards) + " shard(s) to " + out_dir);
  return summary;
}

}  // namespace glmq
