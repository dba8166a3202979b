#include "otlp_mmap/collector/cli/cli.hpp"

int main(int argc, char** argv) { return otlp_mmap::collector::cli_main(argc, argv); }
