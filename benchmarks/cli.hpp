#pragma once
// Command lines of the benchmark tools (Boost.Program_options): unknown options and bad values are
// usage errors (exit code 2) that name the option, never silently ignored.
#include <boost/program_options.hpp>

#include <cstdio>
#include <iostream>
#include <optional>

namespace shadowlink::bench {
namespace po = boost::program_options;

// Parses into `vm` (and the variables the options name). Returns the exit code when the program
// should stop here (0 after --help, 2 after a usage error), nothing when it should go on.
inline std::optional<int> parse_command_line(int argc, char** argv, const char* tool, po::options_description& opts,
                                             const po::positional_options_description& positional, po::variables_map& vm) {
  opts.add_options()("help", "print this help");
  try {
    // No guessing: "--bulk" must not quietly become "--bulk-mib".
    const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(po::command_line_parser(argc, argv).options(opts).positional(positional).style(style).run(), vm);
    if (vm.count("help")) {
      std::cout << opts;
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "%s: %s (--help lists the options)\n", tool, e.what());
    return 2;
  }
  return std::nullopt;
}

}  // namespace shadowlink::bench
