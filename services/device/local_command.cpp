// shadowlink-device: what the device's own user runs — `shadowlink-device end` ends the session
// that shadows their screen, through the agent's control socket.
#include "services/device/local_command.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/program_options.hpp>

#include <iostream>

namespace shadowlink::device {

int local_command_main(int argc, char** argv) {
  namespace po = boost::program_options;
  std::string socket_path, command;
  po::options_description opts("Usage: shadowlink-device [--socket PATH] end|status\nOptions");
  opts.add_options()("help,h", "show this help")(
      "socket", po::value(&socket_path)->default_value("/var/lib/shadowlink/device/control.sock"),
      "the device agent's control socket (its data_dir/NAME/control.sock)");
  po::options_description hidden;
  hidden.add_options()("command", po::value(&command));
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("command", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "shadowlink-device: " << e.what() << "\n" << opts;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "  end       end the session that shadows this screen\n  status    is a session running?\n";
    return 0;
  }
  if (command != "end" && command != "status") {
    std::cerr << "shadowlink-device: expected a command: end or status\n" << opts;
    return 2;
  }
  try {
    boost::asio::io_context io;
    boost::asio::local::stream_protocol::socket s(io);
    s.connect(boost::asio::local::stream_protocol::endpoint(socket_path));
    boost::asio::write(s, boost::asio::buffer(command + "\n"));
    std::string answer;
    boost::system::error_code ec;
    boost::asio::read(s, boost::asio::dynamic_buffer(answer, 256), ec);  // until the agent closes
    std::cout << answer;
    if (answer.empty()) {
      std::cerr << "shadowlink-device: the device agent did not answer\n";
      return 1;
    }
    return command == "status" || answer.starts_with("ended") ? 0 : 1;
  } catch (const boost::system::system_error& e) {
    std::cerr << "shadowlink-device: cannot reach the device agent at " << socket_path << ": " << e.code().message() << "\n";
    return 1;
  }
}

}  // namespace shadowlink::device
