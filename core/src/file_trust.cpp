#include "otlp_mmap/file_trust.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

namespace otlp_mmap {

namespace {

bool env_flag(const char* name, bool fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr) return fallback;
  const std::string_view s(v);
  if (s.empty() || s == "0" || s == "false" || s == "no") return false;
  if (s == "1" || s == "true" || s == "yes") return true;
  throw std::invalid_argument(std::string(name) + "=" + v + " must be 1/true/yes or 0/false/no");
}

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

}  // namespace

TrustPolicy TrustPolicy::from_env() {
  TrustPolicy p;
  p.any_owner = env_flag("OTLP_MMAP_TRUST_ANY_OWNER", p.any_owner);
  p.shared_writable = env_flag("OTLP_MMAP_ALLOW_SHARED_WRITABLE", p.shared_writable);
  p.follow_symlinks = env_flag("OTLP_MMAP_FOLLOW_SYMLINKS", p.follow_symlinks);
  return p;
}

int TrustPolicy::open_flags() const { return follow_symlinks ? 0 : O_NOFOLLOW; }

std::optional<std::string> untrusted_reason(const struct stat& st, const std::string& path, const TrustPolicy& policy) {
  if (!S_ISREG(st.st_mode)) return path + ": not a regular file; refusing to use it";
  if (!policy.any_owner && st.st_uid != ::geteuid()) {
    return path + ": owned by uid " + std::to_string(st.st_uid) + ", not by this user (uid " +
           std::to_string(::geteuid()) +
           "); refusing to use it (OTLP_MMAP_TRUST_ANY_OWNER=1 or --trust-any-owner allows it)";
  }
  if (!policy.shared_writable && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return path + ": mode " + octal_mode(st.st_mode) +
           " lets group or others write it, so they could forge or hide telemetry; refusing to use it "
           "(chmod go-w it, or set OTLP_MMAP_ALLOW_SHARED_WRITABLE=1 or --allow-shared-writable)";
  }
  return std::nullopt;
}

std::string symlink_refused_message(const std::string& path) {
  return path +
         ": is a symbolic link; refusing to follow it (OTLP_MMAP_FOLLOW_SYMLINKS=1 or --follow-symlinks allows it)";
}

}  // namespace otlp_mmap
