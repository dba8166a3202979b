// A file the receiver reads: its reader, the resolver of its dictionary refs and its identity.
// Refs are offsets into one file, so everything that caches by ref keys by the file's `id`.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>

#include "otlp_mmap/collector/receiver/resolver.hpp"
#include "otlp_mmap/reader.hpp"

namespace otlp_mmap::collector {

struct FileSource {
  FileSource(uint64_t file_id, std::unique_ptr<Reader> file_reader, dev_t file_dev, ino_t file_ino,
             const ResolverLimits& limits)
      : id(file_id),
        reader(std::move(file_reader)),
        resolver(limits),
        dev(file_dev),
        ino(file_ino),
        start_time(reader->start_time_unix_nano()) {
    resolver.attach(reader.get());
  }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  const uint64_t id;  // unique per file opened in this process
  std::unique_ptr<Reader> reader;
  DictionaryResolver resolver;
  const dev_t dev;
  const ino_t ino;
  const uint64_t start_time;  // the file's start time when opened (it changes when re-initialised in place)
};

}  // namespace otlp_mmap::collector
