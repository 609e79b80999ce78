#!/usr/bin/env bash
# Install the Debian packages the mini cluster needs, if any is missing. Run as root.
# Used by up.sh and by docker/Dockerfile, so both run the same packages.
set -euo pipefail

# chromium is not the cluster's: tests/report/test_html_chromium.py opens the HTML report
# in it, and run_all.sh (the README's test command) installs through this list.
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server slurm-wlm-torque chromium)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ $status == installed ]] || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

echo "minislurm: installing ${missing[*]} with apt" >&2
export DEBIAN_FRONTEND=noninteractive
# Debian's postinst scripts would start the system's own munge/MariaDB/slurm services;
# the mini cluster runs private ones, so forbid that for the duration of the install.
policy=/usr/sbin/policy-rc.d
own_policy=false
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=true
fi
trap '$own_policy && rm -f "$policy"' EXIT

apt_install() {
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}
# Only refresh the package lists when the packages cannot be found without it.
if ! apt_install; then
    apt-get update -q >&2
    apt_install
fi
