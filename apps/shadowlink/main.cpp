// shadowlink: the console CLI.
#include "services/console/console.hpp"

int main(int argc, char** argv) { return shadowlink::console::main(argc, argv); }
