/*
 * tap.c - the two ends of the wire.  TAP rather than a raw socket on a veth:
 * a TAP device carries whole Ethernet frames to one reader, the kernel does
 * not also deliver them to a stack of its own, and the device disappears
 * with the descriptor, so even SIGKILL cleans up.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "linkemu.h"

int le_tap_open(const char *name, int *fd)
{
    struct ifreq ifr;
    int tfd, rc;

    /* TUNSETIFF attaches to an existing persistent TAP of the same name; that
     * device would outlive us, so a name in use is an error. */
    if (if_nametoindex(name) != 0)
        return -EEXIST;
    tfd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (tfd < 0)
        return -errno;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(tfd, TUNSETIFF, &ifr) < 0) {
        rc = -errno;
        close(tfd);
        return rc;
    }
    *fd = tfd;
    return 0;
}
