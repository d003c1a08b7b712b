#include "backend/cpu/q8_kernels.h"

namespace glmq::cpu {

std::optional<FastKernel> fast_kernel_for(const WeightMatrix& w) {
#ifdef GLMQ_CPU_INT8_KERNELS
  const bool whole_256 = w.cols % 256 == 0, whole_32 = w.cols % 32 == 0;
  switch (w.type) {
    case WeightType::Q8_0:
      if (whole_32) return FastKernel{{32, Q8Order::Natural}, q8_0_rows};
      break;
    case WeightType::IQ4_NL:
      if (whole_32) return FastKernel{{32, Q8Order::NibbleGroups}, iq4_nl_rows};
      break;
    case WeightType::Q4_0:
      if (whole_32) return FastKernel{{32, Q8Order::NibbleGroups}, q4_0_rows};
      break;
    case WeightType::Q5_0:
      if (whole_32) return FastKernel{{32, Q8Order::NibbleGroups}, q5_0_rows};
      break;
    case WeightType::Q5_1:
      if (whole_32) return FastKernel{{32, Q8Order::NibbleGroups}, q5_1_rows};
      break;
    case WeightType::IQ4_XS:
      if (whole_256) return FastKernel{{256, Q8Order::NibbleGroups}, iq4_xs_rows};
      break;
    case WeightType::Q2_K:
      if (whole_256) return FastKernel{{256, Q8Order::Natural}, q2_k_rows};
      break;
    case WeightType::Q3_K:
      if (whole_256) return FastKernel{{256, Q8Order::Natural}, q3_k_rows};
      break;
    case WeightType::Q4_K:
      if (whole_256) return FastKernel{{256, Q8Order::Q4K}, q4_k_rows};
      break;
    case WeightType::Q5_K:
      if (whole_256) return FastKernel{{256, Q8Order::Q4K}, q5_k_rows};
      break;
    case WeightType::Q6_K:
      if (whole_256) return FastKernel{{256, Q8Order::Natural}, q6_k_rows};
      break;
    case WeightType::IQ2_XXS:
      if (whole_256) return FastKernel{{256, Q8Order::Natural}, iq2_xxs_rows};
      break;
    case WeightType::IQ2_S:
      if (whole_256) return FastKernel{{256, Q8Order::Natural}, iq2_s_rows};
      break;
    case WeightType::IQ3_S:
      if (whole_256) return FastKernel{{256, Q8Order::Natural}, iq3_s_rows};
      break;
    case WeightType::Affine2:
    case WeightType::Affine3:
    case WeightType::Affine4:
    case WeightType::Affine5:
    case WeightType::Affine6:
    case WeightType::Affine8: {
      const bool groups = (w.group_size == 32 || w.group_size == 64 || w.group_size == 128) && w.cols % w.group_size == 0;
      const bool aux = w.aux_type == WeightType::BF16 || w.aux_type == WeightType::F16 || w.aux_type == WeightType::F32;
      if (groups && aux && w.scales && w.biases) return FastKernel{{32, Q8Order::NibbleGroups}, affine_rows};
      break;
    }
    default: break;
  }
#else
  (void)w;
#endif
  return std::nullopt;
}

}  // namespace glmq::cpu
