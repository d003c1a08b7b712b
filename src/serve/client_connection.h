#pragma once
// Whether the client of a request is still there. cpp-httplib does not hand its socket to handlers, so the
// socket is found once by its two endpoints (the TCP connection's address pair is unique); handlers waiting on
// the model poll it and cancel the generation when the peer has closed, which frees the sequence slot.
#include <httplib.h>

namespace glmq::serve {

class ClientConnection {
 public:
  explicit ClientConnection(const httplib::Request& request);
  // True once the peer has closed the connection (or it failed); false when the socket was not found.
  bool disconnected() const;

 private:
  int fd_ = -1;
};

}  // namespace glmq::serve
