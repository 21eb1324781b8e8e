// shadowlink-device: the device's user ends the session that shadows their screen.
#include "services/device/local_command.hpp"

int main(int argc, char** argv) { return shadowlink::device::local_command_main(argc, argv); }
