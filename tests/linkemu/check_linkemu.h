#ifndef IXMESH_CHECK_LINKEMU_H
#define IXMESH_CHECK_LINKEMU_H

#include <stddef.h>
#include <stdint.h>

#include <check.h>

Suite *wheel_suite(void);
Suite *frame_suite(void);
Suite *params_suite(void);
Suite *ctl_suite(void);
Suite *stats_suite(void);
Suite *link_suite(void);

/* ---- frame_test.c: frames the link suite sends too ------------------------ */

/*
 * Each writes a whole Ethernet frame into buf (at least 128 octets) and
 * returns its length: headers only, then the 4-octet tag, big-endian, at the
 * very end when tag is not 0, so a receiver can tell frames apart.
 */
size_t test_frame_udp4(uint8_t *buf, uint32_t tag);
size_t test_frame_arp(uint8_t *buf, uint32_t tag);
/* The tag of a frame built above. */
uint32_t test_frame_tag(const uint8_t *buf, size_t len);

#endif
