#include "serve/client_connection.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdlib>
#include <string>

namespace glmq::serve {

namespace {

bool endpoint_is(const sockaddr_storage& a, const std::string& addr, int port) {
  char text[INET6_ADDRSTRLEN] = {};
  int p = -1;
  if (a.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    p = ntohs(v4.sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    p = ntohs(v6.sin6_port);
  } else {
    return false;
  }
  return p == port && addr == text;
}

int find_socket(const httplib::Request& r) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  int found = -1;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    sockaddr_storage local{}, peer{};
    socklen_t ll = sizeof local, pl = sizeof peer;
    const int s = static_cast<int>(fd);
    if (getsockname(s, reinterpret_cast<sockaddr*>(&local), &ll) != 0) continue;
    if (!endpoint_is(local, r.local_addr, r.local_port)) continue;
    if (getpeername(s, reinterpret_cast<sockaddr*>(&peer), &pl) != 0) continue;
    if (endpoint_is(peer, r.remote_addr, r.remote_port)) {
      found = s;
      break;
    }
  }
  closedir(dir);
  return found;
}

}  // namespace

ClientConnection::ClientConnection(const httplib::Request& request) : fd_(find_socket(request)) {}

bool ClientConnection::disconnected() const {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
  if (p.revents & POLLIN) {
    // Readable: either a pipelined next request (still there) or the end of the stream (gone).
    char byte = 0;
    return ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }
  return false;
}

}  // namespace glmq::serve
