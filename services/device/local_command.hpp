#pragma once
// The device user's command line (`shadowlink-device end`): see local_command.cpp.

namespace shadowlink::device {

int local_command_main(int argc, char** argv);

}  // namespace shadowlink::device
