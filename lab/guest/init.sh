#!/bin/sh
# /init of the lab's initramfs: PID 1 of the guest kernel.
#
# The guest runs the host's own userland: the host's root is shared read-only over 9p (tag "hostroot"), put
# under an overlay whose upper layer is a tmpfs (so the guest may write anywhere, and nothing reaches the
# host), and chroot'ed into. A second, read-write 9p share (tag "labio") carries the job in and the results
# out: job.sh (what to run), and back: output.log (stdout+stderr), exit-status, artifacts/.
#
# Any failure here ends in poweroff: the host-side runner reads exit-status, or its absence, and the console.
PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH

fail() { echo "lab-init: $*" >&2; [ -d /io ] && echo "lab-init: $*" >> /io/init-error; poweroff -f; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
KVER=$(uname -r)

# virtio_pci before 9p, and crc32c_generic before libcrc32c (nf_conntrack, then ip_vs, need it): in the other
# order they fail with "unknown symbol" (shared/kernel-lab.md).
for m in virtio_pci crc32c_generic 9p 9pnet_virtio overlay virtio_net; do
  modprobe "$m" || fail "modprobe $m failed"
done

mkdir -p /host /io /newroot /upper
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot /host || fail "cannot mount the host root"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 labio /io || fail "cannot mount the lab io share"
mount -t tmpfs -o size=75% tmpfs /upper
mkdir -p /upper/up /upper/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/upper/up,workdir=/upper/work /newroot \
  || fail "cannot mount the overlay root"

for d in proc sys dev; do mount --bind "/$d" "/newroot/$d"; done
mount -t devpts devpts /newroot/dev/pts 2>/dev/null
# /tmp stays the overlay's: a checkout may live there (CI clones anywhere), and writes land in the tmpfs upper
# layer anyway. /run gets its own tmpfs: `ip netns` mounts namespaces under /run/netns.
mount -t tmpfs tmpfs /newroot/run
mkdir -p /newroot/run/netns /newroot/lab-io "/newroot/lib/modules/$KVER"
mount --bind /io /newroot/lab-io
# The host has no modules for this kernel: give the chroot the initramfs' set, so kmod's modprobe works there.
mount --bind "/lib/modules/$KVER" "/newroot/lib/modules/$KVER"
# The kernel's own module requests (e.g. an IPVS scheduler on first use) run /sbin/modprobe in the initramfs.
echo /sbin/modprobe > /proc/sys/kernel/modprobe

# Base modules every lab run uses; the rest load on demand.
for m in ip_vs veth bridge dummy ipip nf_tables; do modprobe "$m" || fail "modprobe $m failed"; done

# The host may forward ports to the guest (qemu user networking): bring eth0 up with qemu's fixed address.
if [ -e /sys/class/net/eth0 ]; then
  ip link set lo up
  ip link set eth0 up
  . /io/net.env 2>/dev/null && [ -n "$GUEST_ADDR" ] && ip addr add "$GUEST_ADDR" dev eth0
fi
ip link set lo up
hostname lvs-lab

echo "lab-init: ready ($KVER), running the job" > /dev/console
chroot /newroot /bin/sh -c '. /lab-io/job.sh' > /io/output.log 2>&1
echo $? > /io/exit-status.tmp && mv /io/exit-status.tmp /io/exit-status
sync
poweroff -f
