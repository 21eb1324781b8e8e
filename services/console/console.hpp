#pragma once
// The `shadowlink` console CLI: list devices, shadow one through a local port for an external
// VNC viewer, or take a snapshot with the internal RFB client.
namespace shadowlink::console {

int main(int argc, char** argv);

}  // namespace shadowlink::console
