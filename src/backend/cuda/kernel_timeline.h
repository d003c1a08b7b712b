#pragma once
// When each kernel of a decode step ends, measured inside the step (Nsight Systems is not available on the device
// machines, and ncu times kernels one at a time, without the overlap a CUDA graph gets from dependent launches).
// While recording, every kernel that launch() issues is followed on its stream by a one-thread probe kernel that
// waits for it (griddepcontrol.wait: the kernel before has completed and its writes are visible) and stores
// %globaltimer in its own slot. A graph captured while recording keeps the probes, so each replay rewrites the
// same slots. A probe lets the next kernel launch at once, so the overlap of dependent launches is kept; each
// adds a short kernel to its stream, so the offsets locate the critical path rather than time kernels exactly.
#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <vector>

namespace glmq::cuda {

struct KernelEnd {
  std::string kernel;  // the name given to launch()
  int stream = 0;      // streams numbered in the order they first appear
  double end_us = 0;   // after the first probe of the recording
};

// Starts recording (at most `capacity` kernels; the ones after are not probed); clears an earlier recording.
void kernel_timeline_begin(std::size_t capacity);
// Stops issuing probes (the slots and names stay, for kernel_timeline_read).
void kernel_timeline_end();
bool kernel_timeline_recording();
// Called by launch() after each kernel while recording.
void kernel_timeline_probe(const char* kernel, cudaStream_t stream);
// The probes' times as last written (synchronises the device), in probe order.
std::vector<KernelEnd> kernel_timeline_read();

}  // namespace glmq::cuda
