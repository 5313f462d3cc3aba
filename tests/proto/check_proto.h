#ifndef IXMESH_CHECK_PROTO_H
#define IXMESH_CHECK_PROTO_H

#include <check.h>

/* Each *_test.c file defines one suite, named as in the function. */
Suite *frame_suite(void);
Suite *msg_suite(void);
Suite *stamp_suite(void);
Suite *stamp_auth_suite(void);
Suite *stamp_tlv_suite(void);
Suite *sketch_suite(void);

#endif
