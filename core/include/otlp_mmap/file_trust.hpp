// Whether a telemetry file may be used: one policy, applied by writer and reader alike.
//
// The file's permissions are the security boundary of the protocol (anyone who can write it
// can forge or hide telemetry), so both sides refuse by default what another user controls:
// a file owned by someone else, a file that group or others may write, a symbolic link at
// the final path component (it could point anywhere, e.g. at a disk image), or anything
// that is not a regular file. Each refusal names the setting that overrides it.
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>

namespace otlp_mmap {

struct TrustPolicy {
  // Accept a file owned by another user (OTLP_MMAP_TRUST_ANY_OWNER=1, --trust-any-owner).
  bool any_owner = false;
  // Accept a file that group or others may write (OTLP_MMAP_ALLOW_SHARED_WRITABLE=1,
  // --allow-shared-writable).
  bool shared_writable = false;
  // Follow a symbolic link at the final path component (OTLP_MMAP_FOLLOW_SYMLINKS=1,
  // --follow-symlinks). Without it the path is opened with O_NOFOLLOW.
  bool follow_symlinks = false;

  // The defaults overridden by the OTLP_MMAP_* variables above ("1"/"true"/"yes" enable;
  // "0"/"false"/"no"/empty disable). Throws std::invalid_argument naming a malformed one.
  static TrustPolicy from_env();

  // O_NOFOLLOW unless symbolic links are followed.
  int open_flags() const;
};

// Why `st` (from fstat of the opened descriptor) must not be used, or nullopt when it may.
// The message starts with `path` and names the setting that would allow it.
std::optional<std::string> untrusted_reason(const struct stat& st, const std::string& path, const TrustPolicy& policy);

// The message for an open() that failed with ELOOP under O_NOFOLLOW: the path is a symlink.
std::string symlink_refused_message(const std::string& path);

}  // namespace otlp_mmap
