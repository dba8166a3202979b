#include "otlp_mmap/collector/cli.hpp"

int main(int argc, char** argv) { return otlp_mmap::collector::cli_main(argc, argv); }
