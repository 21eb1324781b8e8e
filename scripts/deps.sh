# Sourced by scripts/demo and scripts/test: installs the Debian packages the project needs, once.
# Every package and why is listed in README.md ("Dependencies").
SHADOWLINK_PACKAGES=(
  g++ cmake ninja-build pkg-config ccache
  zlib1g-dev libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-program-options1.81-dev
  libwolfssl-dev libsimdjson-dev catch2 libpng-dev libsystemd-dev help2man prometheus-cpp-dev libvncserver-dev libsdl2-dev libsqlite3-dev libpq-dev postgresql
  dpkg-dev autoconf automake libtool make xz-utils
  openssl procps iproute2 curl util-linux tinyproxy haproxy faketime python3
  tigervnc-standalone-server tigervnc-tools tigervnc-viewer xdotool xclip x11-utils x11-xserver-utils gvncviewer novnc
  chromium prometheus xvfb x11-apps ffmpeg
  clang libclang-rt-14-dev testssl.sh
)
# Node.js and npm drive Chromium in the browser tests (playwright-core from the npm registry). A
# machine may already have Node.js from elsewhere (NodeSource bundles npm): only ask Debian for
# them when the commands are missing.
command -v node > /dev/null || SHADOWLINK_PACKAGES+=(nodejs)
command -v npm > /dev/null || SHADOWLINK_PACKAGES+=(npm)

shadowlink_install_deps() {
  local missing=()
  for p in "${SHADOWLINK_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
}

shadowlink_build() {  # $1 = preset
  cmake --preset "$1" >/dev/null
  cmake --build --preset "$1"
}
