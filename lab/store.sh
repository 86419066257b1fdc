# Sourced, not run: the lab's artefact store. Every lab artefact (a lab kernel, an unpacked QEMU, the
# Debian kernel, a lab image, a booted lab host's snapshot) is an entry NAME-KEY, KEY a hash of
# everything it is built from, in a store every clone on this machine shares:
#   ${LIVEUPDATE_CACHE:-/var/cache/liveupdate}/lab/NAME-KEY
# A clone sees the entries it uses through links in its own lab folder ($LAB_CACHE, default
# .cache/lab): luo-kernel -> STORE/luo-kernel-KEY, and so on, so two clones with different recipes
# never see each other's. An entry is built in NAME-KEY.tmp-PID under a lock of its own and renamed
# into place when complete: an entry that exists is whole. Entries beyond the store's size bound
# (LIVEUPDATE_CACHE_MAX_GIB, default 40) go, least recently used first, never one in use.
# To force a cold run: LIVEUPDATE_CACHE=$(mktemp -d) (or remove the store).
LAB_STORE=${LIVEUPDATE_CACHE:-/var/cache/liveupdate}/lab

# store_key < INPUTS: the key of everything on stdin
store_key() { sha256sum | cut -c1-16; }

# store_get NAME KEY: sets STORE_ENTRY. Returns 0 when the entry is there (warm: nothing to build).
# Otherwise it takes the entry's lock (waiting while another build of the same entry runs), and
# returns 0 if that build finished it meanwhile, else 1 with STORE_TMP, an empty folder to build in,
# to be finished with store_put.
store_get() {
  mkdir -p "$LAB_STORE/locks"
  STORE_ENTRY=$LAB_STORE/$1-$2
  STORE_TMP=""
  if [ -e "$STORE_ENTRY/.complete" ]; then store_said "$1" warm; return 0; fi
  exec 8>"$LAB_STORE/locks/$1-$2.lock"
  flock 8
  if [ -e "$STORE_ENTRY/.complete" ]; then exec 8>&-; store_said "$1" warm; return 0; fi
  # what an interrupted build of this entry left
  rm -rf --one-file-system "$STORE_ENTRY".tmp-* "$STORE_ENTRY"
  STORE_TMP=$STORE_ENTRY.tmp-$$
  mkdir -p "$STORE_TMP"
  store_said "$1" cold
  return 1
}

# store_put: the entry built in STORE_TMP is complete; rename it into place, release its lock, and
# keep the store within its bound
store_put() {
  date +%s > "$STORE_TMP/.complete"
  mv -T "$STORE_TMP" "$STORE_ENTRY"
  STORE_TMP=""
  exec 8>&-
  store_prune
}

# store_link LINK [PATH]: LINK in this clone's lab folder ($C) points at the entry (or PATH in it);
# the entry is marked used now
store_link() {
  local target=$STORE_ENTRY${2:+/$2}
  touch "$STORE_ENTRY/.complete"
  if [ "$(readlink "$C/$1" 2>/dev/null)" != "$target" ]; then
    rm -rf --one-file-system "${C:?}/$1"
    ln -sfn "$target" "$C/$1.new" && mv -T "$C/$1.new" "$C/$1"
  fi
}

# one line per artefact, for the artefact table the test command prints (warm: reused; cold: built)
store_said() { echo "[lab-store] $1 ${STORE_ENTRY##*-}: $2"; }

# store_prune: while the store is over its bound, remove the least recently used entries whose lock
# nobody holds (an entry being built right now stays, and so does the one just built or linked)
store_prune() {
  local max=$(( ${LIVEUPDATE_CACHE_MAX_GIB:-40} * 1024 * 1024 )) e name
  while read -r e; do
    [ "$(du -sk "$LAB_STORE" | cut -f1)" -gt "$max" ] || return 0
    [ "$e" != "$STORE_ENTRY" ] || continue
    name=$(basename "$e")
    exec 7>"$LAB_STORE/locks/$name.lock"
    if flock -n 7; then echo "[lab-store] pruned $name (least recently used; the store is over ${LIVEUPDATE_CACHE_MAX_GIB:-40} GiB)"; rm -rf --one-file-system "$e"; fi
    exec 7>&-
  done < <(find "$LAB_STORE" -mindepth 2 -maxdepth 2 -name .complete -printf '%T@ %h\n' 2>/dev/null | sort -n | cut -d' ' -f2-)
}
