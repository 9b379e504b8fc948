# Debian packages from the system's own suite (bookworm).

apt_missing_packages() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || echo "$p"
  done
}

provision_apt() {
  local missing
  missing=$(apt_missing_packages | tr '\n' ' ')
  if [ -z "${missing// /}" ]; then
    say "  all present: ${APT_PACKAGES[*]}"
    return
  fi
  say "  installing: $missing"
  apt-get update -qq || fail "apt-get update failed; check the machine's Debian sources."
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null \
    || fail "apt-get install $missing failed (see the lines above)."
  # The packaged PostgreSQL service is not ours: the launcher runs its own cluster in the data dir.
  if command -v systemctl >/dev/null && systemctl is-active -q postgresql 2>/dev/null; then
    say "  note: the system PostgreSQL service is running; Zanshin does not use it"
  fi
}
