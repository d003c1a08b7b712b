#pragma once
// Sending a completion: one JSON body, or a server-sent-event stream. Shared by the chat and text completion
// endpoints; `Completion` has respond(res), pump(sink) and job().
#include <httplib.h>

#include <exception>
#include <memory>

namespace glmq::serve {

template <typename Completion>
void send_completion(std::shared_ptr<Completion> completion, bool stream, httplib::Response& res) {
  if (!stream) {
    completion->respond(res);
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [completion](std::size_t, httplib::DataSink& sink) {
        try {
          return completion->pump(sink);
        } catch (const std::exception&) {  // the stream breaks off; the server and other requests go on
          completion->job().cancel();
          return false;
        }
      },
      // Runs however the response ends (done, write failure, server stop): a stream never outlives its job.
      [completion](bool) { completion->job().cancel(); });
}

}  // namespace glmq::serve
