# Sourced, not run: apt with its own sources list and state under .cache/apt-NAME, so the machine's
# lists stay as they are. `apt_private NAME "deb URL SUITE main"` sets APT_DIR (downloads go in
# $APT_DIR/debs) and the array APT_OPTS for apt-get/apt-cache; it fetches the lists when there are
# none or they are a day old (sid moves: an old list names packages the mirror no longer has).
apt_private() {
  APT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache/apt-$1
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/debs"
  echo "$2" > "$APT_DIR/sources.list"
  APT_OPTS=(-o Dir::Etc::SourceList="$APT_DIR/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$APT_DIR/lists" -o Dir::Cache="$APT_DIR/cache" -o APT::Sandbox::User=root -q)
  if [ -z "$(find "$APT_DIR/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440)" ]; then apt-get "${APT_OPTS[@]}" update >/dev/null; fi
}
