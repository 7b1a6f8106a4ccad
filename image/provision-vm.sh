#!/bin/sh
# The real-VM path (VirtualBox/libvirt with a Debian bookworm box): make the VM the same
# machine the container image is. Not exercised in CI (no hypervisor there).
# $1 = this VM's private address. The project is rsynced to /opt/coreos-lab-src.
set -eu
src=/opt/coreos-lab-src
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends systemd dbus openssh-server openssh-client sudo \
    etcd-server etcd-client docker.io busybox-static iproute2 bridge-utils iptables tcpdump curl \
    jq iputils-ping procps less ca-certificates python3 python3-etcd python3-yaml
id core >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --groups sudo,docker,systemd-journal core
echo 'core ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/core
install -d -o core -g core -m 0700 /home/core/.ssh /home/core/.ssh/authorized_keys.d
install -m 0600 -o core -g core "$src/image/vagrant.pub" /home/core/.ssh/authorized_keys.d/vagrant
cat /home/core/.ssh/authorized_keys.d/* > /home/core/.ssh/authorized_keys
chown core:core /home/core/.ssh/authorized_keys
install -d /var/lib/coreos-vagrant /etc/coreos /etc/fleet /opt/labs/labs
cp -r "$src/image/rootfs/." /
cp "$src/labs/__init__.py" /opt/labs/labs/
cp -r "$src/labs/node" /opt/labs/labs/
systemctl disable --now etcd.service docker.service 2>/dev/null || true
systemctl mask etcd.service
systemctl enable docker.socket coreos-cloudinit.path coreos-cloudinit.service
COREOS_PRIVATE_IPV4=$1 COREOS_PUBLIC_IPV4=$1 /usr/lib/coreos/write-environment
systemctl daemon-reexec  # system.conf.d: ETCDCTL_API=2 for every unit
